package plan

// Warnings lists every repository's warnings, each prefixed with nothing:
// the keep rules that hold nothing (see policy.Warnings).
func (p *Plan) Warnings() []string {
	var out []string
	for i := range p.Repositories {
		out = append(out, p.Repositories[i].Warnings...)
	}
	return out
}
