package plan

// reach is how a deleted manifest is reached: as an image of its own, or
// as the child (parent) or referrer (subject) of a deleted manifest.
type reach struct {
	kind, parent, subject string
}

// deleteClosure deletes the images the policy deletes and nothing kept
// reaches, and, recursively, what they reach that nothing kept reaches,
// each with the deleted manifest that reaches it.
func (b *builder) deleteClosure() {
	b.del, b.delWhy = map[string]reach{}, map[string]Reason{}
	via := map[string]string{}
	var queue []string
	for _, d := range b.ds {
		if !d.Keep && !b.keep[d.Digest] {
			b.del[d.Digest] = reach{kind: KindImage}
			b.order = append(b.order, d.Digest)
			queue = append(queue, d.Digest)
		}
	}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, n := range neighbours(b.repo, d) {
			if b.keep[n.digest] {
				continue
			}
			if _, ok := b.del[n.digest]; ok {
				continue
			}
			r := reach{kind: n.kind}
			if n.kind == KindChild {
				r.parent = d
			} else {
				r.subject = d
			}
			if r.kind == KindReferrer && isSignature(b.tagsOf[n.digest]) {
				r.kind = KindSignature
			}
			b.delWhy[n.digest] = b.reached(DeleteReached, n, d, via)
			via[n.digest] = viaTag(d, b.tagsOf, via)
			b.del[n.digest] = r
			b.order = append(b.order, n.digest)
			queue = append(queue, n.digest)
		}
	}
}
