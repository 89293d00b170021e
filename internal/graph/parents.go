package graph

// Parents maps each manifest to the manifests that list it as a child
// (in no particular order).
func (r *Repository) Parents() map[string][]string {
	out := map[string][]string{}
	for p, m := range r.Manifests {
		for _, c := range m.Children {
			out[c] = append(out[c], p)
		}
	}
	return out
}
