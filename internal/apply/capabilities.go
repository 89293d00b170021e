package apply

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

// answerOf is the status and error code of a registry answer, without the
// path: "400 DIGEST_INVALID".
func answerOf(err error) string {
	var e *registry.Error
	if errors.As(err, &e) {
		s := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
		if e.Code != "" {
			s = fmt.Sprintf("%d %s", e.Status, e.Code)
		}
		return s
	}
	return err.Error()
}

// tagState is whether the registry deletes a tag alone: 0 unknown, 1
// yes, -1 no.
func (a *run) tagState() tristate {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tagDelete
}

// probeTookManifest reports whether the tag-delete probe removed its
// whole manifest.
func (a *run) probeTookManifest() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tagAnswer == errTagDeleteTakesManifest
}

func (a *run) deletesWork() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.digestOK || a.tagDelete == probeYes
}

// capabilities records in the plan what the registry showed it can do
// during this apply, with a note on each refusal: its cause and its fix.
func (a *run) capabilities() {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.r.Capabilities
	if c == nil {
		c = &plan.Capabilities{}
		a.r.Capabilities = c
	}
	switch a.tagDelete {
	case probeYes:
		c.TagDelete = plan.CapWorks
	case probeNo:
		c.TagDelete = plan.CapRefused
		if a.noDelete != nil && errors.Is(a.tagAnswer, registry.ErrUnsupported) && !a.digestOK {
			// The 405 to the tag delete was deletes being off
			// altogether: whether a tag alone could go is not known.
			c.TagDelete = plan.CapUnknown
		}
	default:
		if c.TagDelete == "" {
			c.TagDelete = plan.CapUnknown
		}
	}
	switch {
	case a.noDelete != nil:
		c.Deletes = plan.CapRefused
		c.Notes = append(c.Notes, "deletes refused: the registry answered "+answerOf(a.noDelete)+" to a DELETE; "+fixFor(a.noDelete)+"; no further DELETE was sent")
	case a.digestOK || a.tagDelete == probeYes:
		c.Deletes = plan.CapWorks
	}
	switch {
	case a.digestKeepsTags:
		c.DigestDeleteRemovesTags = new(bool)
		c.Notes = append(c.Notes, "the registry's DELETE by digest left the tags naming the deleted manifest (read back after the deletes): regprune deleted those tags one by one")
	case a.digestTakesTags:
		yes := true
		c.DigestDeleteRemovesTags = &yes
	}
	if a.tagAnswer == errTagDeleteTakesManifest {
		c.Notes = append(c.Notes, "the registry removed the whole manifest for DELETE /manifests/<tag> (probed with a tag of an image being deleted): regprune deleted the rest by digest and removed no tag from a kept image")
	} else if a.tagDelete == probeNo && a.noDelete == nil {
		c.Notes = append(c.Notes, "the registry cannot delete a tag alone (it answered "+answerOf(a.tagAnswer)+
			" to DELETE /manifests/<tag>, as distribution 2.x does): regprune deleted by digest instead, which removes every tag of each deleted image")
	}
}

// fixFor says how to let regprune delete after a refusal: the setting
// of the registry that answered when it is known (plan.FixDisabledFor).
func fixFor(err error) string {
	if deniedDelete(err) {
		return plan.FixDenied
	}
	return plan.FixDisabledFor(err)
}

// errTagDeleteTakesManifest is why tag deletes stop when the probe's
// manifest went with its tag.
var errTagDeleteTakesManifest = errors.New("DELETE /manifests/<tag> removed the whole manifest")

// checkProbe runs after the first tag delete succeeded. The probe's tags
// belong to an image being deleted anyway; if its manifest went with them,
// the registry deletes manifests, not tags, on DELETE by tag: no further
// tag is deleted (an untag would destroy a kept image), and the remaining
// deletions go by digest in their safe order.
func (a *run) checkProbe(it *plan.Item) {
	if _, err := a.t.Head(a.req, it.Digest); !errors.Is(err, registry.ErrNotFound) {
		return
	}
	a.markGone(it.Digest)
	a.seenGone(it.Digest)
	set(it, plan.ResultDeleted, plan.DeletedWithTag())
	a.mu.Lock()
	a.tagDelete, a.tagAnswer, a.digestOK = probeNo, errTagDeleteTakesManifest, true
	a.mu.Unlock()
	a.o.Logger.Warn("the registry deletes the whole manifest for DELETE by tag; deleting by digest from now on and leaving kept images' tags alone", "repository", a.t.Name())
}

// Refusals records the registries that refuse every delete (405
// UNSUPPORTED: deletes disabled), by host. A denial for lack of
// permission (401, 403) is per repository and is not shared. Safe for
// concurrent use; the nil *Refusals records nothing.
type Refusals struct {
	mu    sync.Mutex
	hosts map[string]error
}

func hostOf(repo string) string {
	h, _, _ := strings.Cut(repo, "/")
	return h
}

func (r *Refusals) set(repo string, err error) {
	if r == nil || deniedDelete(err) || !errors.Is(err, registry.ErrUnsupported) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hosts == nil {
		r.hosts = map[string]error{}
	}
	if _, ok := r.hosts[hostOf(repo)]; !ok {
		r.hosts[hostOf(repo)] = err
	}
}

func (r *Refusals) get(repo string) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hosts[hostOf(repo)]
}
