package sandbox

// Registry quirks on the v2 path, played by a Proxy in front of a real
// registry. Each flavour follows what ../shared/docs/vendors.md documents
// (sources named there and at each behaviour below); where a detail is
// not documented (a status code, say), the choice is marked [unverified]
// and picked so that a client has the most to get right.
//
// The proxy answers the requests a flavour changes itself, reading the
// registry behind it directly (tags, manifests) to decide, and forwards
// every other request unchanged. The registry behind it holds the
// content, so pulls and GC prove the outcome.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Quirk is a registry flavour a quirk proxy plays.
type Quirk string

// The flavours.
const (
	// QuirkGAR: Google Artifact Registry and GCR (vendors.md §4):
	// DELETE by tag untags (202); DELETE by digest of a manifest a tag
	// still names is 400 GOOGLE_MANIFEST_DANGLING_TAG ("Manifest is still
	// referenced by tag"; genuinetools/reg#136, enix/kube-image-keeper#636);
	// of a manifest an index still lists, GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE
	// (GoogleCloudPlatform/gcr-cleaner#118). Eventually consistent: for
	// QuirkOptions.Lag more DELETEs after its tag or its parent went,
	// the digest is still refused the same way (gcr-cleaner deletes
	// tags, waits, and retries dangling parents up to 3 times).
	QuirkGAR Quirk = "gar"
	// QuirkECR: Amazon ECR (vendors.md §3): v2 DELETE by digest works
	// (aws/containers-roadmap#1229); deleting a manifest an index lists
	// fails with ImageReferencedByManifestList (BatchDeleteImage's
	// failure code; its status over v2 is [unverified]: 400 here).
	// DELETE by tag over v2 is [unverified]: refused here, 405
	// UNSUPPORTED, the harder case.
	QuirkECR Quirk = "ecr"
	// QuirkHarbor: Harbor (vendors.md §7, goharbor/harbor
	// src/server/registry/manifest.go and src/controller/artifact/
	// controller.go): DELETE by tag is UNSUPPORTED ("v2 doesn't support
	// delete by tag"; the 405 status is [unverified]); DELETE by digest
	// deletes the artifact deeply: its tags, its accessories (manifests
	// whose subject it is), and the children it lists that no tag names
	// and no other manifest lists, each deeply; a manifest another one
	// lists is refused with 412 ("the deleting artifact is referenced by
	// others").
	QuirkHarbor Quirk = "harbor"
	// QuirkGitLab: GitLab.com's registry (vendors.md §8,
	// oras-project/oras-go#1396): the reference sha256-<hex> resolves to
	// the manifest sha256:<hex>, whatever the tag sha256-<hex> names; it
	// has no referrers API. Reads only: what a DELETE of that reference
	// does is [unverified], and left to the registry behind.
	QuirkGitLab Quirk = "gitlab"
)

// QuirkOptions configures a quirk proxy.
type QuirkOptions struct {
	Quirk Quirk
	// Lag (QuirkGAR) is how many more DELETEs of a digest are refused
	// after its last tag or its parent went.
	Lag int
	// Parents lists, as "repo@digest", manifests no tag reaches that the
	// flavour counts as listing what they list (an untagged index a
	// cleanup tool cannot see): ECR, GAR and Harbor refuse to delete
	// their children.
	Parents []string
}

// QuirkCounts are the answers a quirk proxy gave of its own.
type QuirkCounts struct {
	DanglingTag, DanglingParent, ReferencedByList, Precondition, TagDeleteRefused int
	DeepDeleted                                                                   []string // digests a Harbor deep delete took with a root
}

// QuirkProxy is a Proxy playing a flavour.
type QuirkProxy struct {
	*Proxy
	o      QuirkOptions
	target string
	hc     *http.Client

	mu     sync.Mutex
	lag    map[string]int    // digest -> refusals left
	lagErr map[string]string // digest -> the code they carry
	counts QuirkCounts
}

// NewQuirkProxy starts a proxy in front of target (a URL such as
// Registry.URL) that plays o.Quirk. The caller closes it.
func NewQuirkProxy(target string, o QuirkOptions) (*QuirkProxy, error) {
	q := &QuirkProxy{o: o, target: strings.TrimSuffix(target, "/"), hc: &http.Client{}, lag: map[string]int{}, lagErr: map[string]string{}}
	p, err := NewProxy(target, ProxyOptions{Intercept: q.intercept})
	if err != nil {
		return nil, err
	}
	q.Proxy = p
	return q, nil
}

// QuirkCounts returns the answers the proxy gave of its own so far.
func (q *QuirkProxy) QuirkCounts() QuirkCounts {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.counts
	c.DeepDeleted = append([]string(nil), c.DeepDeleted...)
	return c
}

var digestRef = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
var dashRef = regexp.MustCompile(`^sha256-([0-9a-f]{64})$`)

// manifestPath splits /v2/<name>/manifests/<ref>.
func manifestPath(p string) (name, ref string, ok bool) {
	i := strings.LastIndex(p, "/manifests/")
	if !strings.HasPrefix(p, "/v2/") || i < len("/v2/") {
		return "", "", false
	}
	return p[len("/v2/"):i], p[i+len("/manifests/"):], true
}

func (q *QuirkProxy) intercept(w http.ResponseWriter, r *http.Request) bool {
	name, ref, ok := manifestPath(r.URL.Path)
	if !ok {
		return false
	}
	switch q.o.Quirk {
	case QuirkGitLab:
		if m := dashRef.FindStringSubmatch(ref); m != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			// Resolved as the digest, not as the tag.
			q.forward(w, r, r.Method, "/v2/"+name+"/manifests/sha256:"+m[1])
			return true
		}
		return false
	case QuirkGAR, QuirkECR, QuirkHarbor:
		if r.Method != http.MethodDelete {
			return false
		}
		if digestRef.MatchString(ref) {
			q.deleteDigest(w, r, name, ref)
		} else {
			q.deleteTag(w, r, name, ref)
		}
		return true
	}
	return false
}

func (q *QuirkProxy) count(f func(c *QuirkCounts)) {
	q.mu.Lock()
	f(&q.counts)
	q.mu.Unlock()
}

func (q *QuirkProxy) deleteTag(w http.ResponseWriter, r *http.Request, name, tag string) {
	switch q.o.Quirk {
	case QuirkHarbor:
		q.count(func(c *QuirkCounts) { c.TagDeleteRefused++ })
		writeRegistryError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "v2 doesn't support delete by tag")
		return
	case QuirkECR:
		q.count(func(c *QuirkCounts) { c.TagDeleteRefused++ })
		writeRegistryError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "the operation is unsupported")
		return
	}
	// GAR: untag; the digest it named stays refused for a while.
	d, _, err := q.get(r.Context(), name, tag)
	status := q.forward(w, r, http.MethodDelete, r.URL.Path)
	if err == nil && status == http.StatusAccepted && q.o.Lag > 0 {
		q.mu.Lock()
		q.lag[d], q.lagErr[d] = q.o.Lag, "tag"
		q.mu.Unlock()
	}
}

func (q *QuirkProxy) deleteDigest(w http.ResponseWriter, r *http.Request, name, digest string) {
	v, err := q.view(r.Context(), name, digest)
	if err != nil {
		writeRegistryError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	parent := v.parentOf(digest, "")
	switch q.o.Quirk {
	case QuirkGAR:
		if len(v.tagsOf(digest)) > 0 {
			q.danglingTag(w)
			return
		}
		if parent != "" {
			q.danglingParent(w)
			return
		}
		q.mu.Lock()
		left, why := q.lag[digest], q.lagErr[digest]
		if left > 0 {
			q.lag[digest]--
		}
		q.mu.Unlock()
		if left > 0 {
			if why == "tag" {
				q.danglingTag(w)
			} else {
				q.danglingParent(w)
			}
			return
		}
		if q.forward(w, r, http.MethodDelete, r.URL.Path) == http.StatusAccepted && q.o.Lag > 0 {
			q.mu.Lock()
			for _, c := range v.lists[digest] {
				q.lag[c], q.lagErr[c] = q.o.Lag, "parent"
			}
			q.mu.Unlock()
		}
	case QuirkECR:
		if parent != "" {
			q.count(func(c *QuirkCounts) { c.ReferencedByList++ })
			writeRegistryError(w, http.StatusBadRequest, "ImageReferencedByManifestList", "Requested image referenced by manifest list: "+parent)
			return
		}
		q.forward(w, r, http.MethodDelete, r.URL.Path)
	case QuirkHarbor:
		if parent != "" {
			q.count(func(c *QuirkCounts) { c.Precondition++ })
			writeRegistryError(w, http.StatusPreconditionFailed, "VIOLATE_FOREIGN_KEY_CONSTRAINT", "the deleting artifact is referenced by others")
			return
		}
		if q.forward(w, r, http.MethodDelete, r.URL.Path) == http.StatusAccepted {
			q.deep(r.Context(), name, digest, v, map[string]bool{digest: true})
		}
	}
}

func (q *QuirkProxy) danglingTag(w http.ResponseWriter) {
	q.count(func(c *QuirkCounts) { c.DanglingTag++ })
	writeRegistryError(w, http.StatusBadRequest, "GOOGLE_MANIFEST_DANGLING_TAG", "Manifest is still referenced by tag")
}

func (q *QuirkProxy) danglingParent(w http.ResponseWriter) {
	q.count(func(c *QuirkCounts) { c.DanglingParent++ })
	writeRegistryError(w, http.StatusBadRequest, "GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE", "Manifest is still referenced by one or more parent images")
}

// deep deletes what Harbor's deleteDeeply takes with root: its
// accessories (manifests whose subject it is) and the children it lists
// that no tag names and no manifest other than the ones deleted lists,
// each deeply.
func (q *QuirkProxy) deep(ctx context.Context, name, root string, v *view, gone map[string]bool) {
	var next []string
	for d, s := range v.subject {
		if s == root {
			next = append(next, d)
		}
	}
	for _, c := range v.lists[root] {
		if len(v.tagsOf(c)) == 0 && v.parentOf(c, root, gone) == "" {
			next = append(next, c)
		}
	}
	sort.Strings(next)
	for _, d := range next {
		if gone[d] {
			continue
		}
		gone[d] = true
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, q.target+"/v2/"+name+"/manifests/"+d, nil)
		if err != nil {
			continue
		}
		if resp, err := q.hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				q.count(func(c *QuirkCounts) { c.DeepDeleted = append(c.DeepDeleted, d) })
			}
		}
		q.deep(ctx, name, d, v, gone)
	}
}

// forward sends r to the registry as method on path and copies the
// answer to w; it returns the status (0 if the request failed).
func (q *QuirkProxy) forward(w http.ResponseWriter, r *http.Request, method, path string) int {
	u := q.target + path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	req, err := http.NewRequestWithContext(r.Context(), method, u, r.Body)
	if err != nil {
		writeRegistryError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return 0
	}
	req.Header = r.Header.Clone()
	resp, err := q.hc.Do(req)
	if err != nil {
		writeRegistryError(w, http.StatusBadGateway, "UNKNOWN", err.Error())
		return 0
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
	return resp.StatusCode
}

// view is what the registry behind the proxy holds in one repository:
// every tag, and every manifest the tags and QuirkOptions.Parents reach
// (index entries and referrers fallback entries alike).
type view struct {
	tags    map[string]string   // tag -> digest
	lists   map[string][]string // manifest -> what it lists
	subject map[string]string   // manifest -> its subject
}

func (v *view) tagsOf(d string) []string {
	var out []string
	for t, td := range v.tags {
		if td == d {
			out = append(out, t)
		}
	}
	return out
}

// parentOf is a manifest other than except (and those of skip) that
// lists d, "" if none.
func (v *view) parentOf(d, except string, skip ...map[string]bool) string {
	var ps []string
	for p, ls := range v.lists {
		if p == except || (len(skip) > 0 && skip[0][p]) {
			continue
		}
		for _, c := range ls {
			if c == d {
				ps = append(ps, p)
			}
		}
	}
	sort.Strings(ps)
	if len(ps) == 0 {
		return ""
	}
	return ps[0]
}

// view reads the registry behind the proxy; roots are more manifests to
// read (the one being deleted, which may have no tag left).
func (q *QuirkProxy) view(ctx context.Context, name string, roots ...string) (*view, error) {
	v := &view{tags: map[string]string{}, lists: map[string][]string{}, subject: map[string]string{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, q.target+"/v2/"+name+"/tags/list?n=100000", nil)
	if err != nil {
		return nil, err
	}
	resp, err := q.hc.Do(req)
	if err != nil {
		return nil, err
	}
	var tl struct {
		Tags []string `json:"tags"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tl)
	resp.Body.Close()
	if err != nil && resp.StatusCode != http.StatusNotFound {
		return nil, fmt.Errorf("quirk proxy: tags of %s: %w", name, err)
	}
	var queue []string
	for _, t := range tl.Tags {
		d, m, err := q.get(ctx, name, t)
		if err != nil {
			continue // gone since the listing
		}
		v.tags[t] = d
		v.add(d, m)
		queue = append(queue, m.children()...)
	}
	queue = append(queue, roots...)
	for _, p := range q.o.Parents {
		if n, d, ok := strings.Cut(p, "@"); ok && n == name {
			queue = append(queue, d)
		}
	}
	seen := map[string]bool{}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if seen[d] {
			continue
		}
		seen[d] = true
		_, m, err := q.get(ctx, name, d)
		if err != nil {
			continue // not there: lists nothing
		}
		v.add(d, m)
		queue = append(queue, m.children()...)
	}
	return v, nil
}

type quirkManifest struct {
	Manifests []struct {
		Digest string `json:"digest"`
	} `json:"manifests"`
	Subject *struct {
		Digest string `json:"digest"`
	} `json:"subject"`
}

func (m *quirkManifest) children() []string {
	var out []string
	for _, e := range m.Manifests {
		out = append(out, e.Digest)
	}
	return out
}

func (v *view) add(d string, m *quirkManifest) {
	if c := m.children(); len(c) > 0 {
		v.lists[d] = c
	}
	if m.Subject != nil {
		v.subject[d] = m.Subject.Digest
	}
}

// get reads the manifest ref from the registry behind the proxy: its
// digest (the body's sha256) and what it lists.
func (q *QuirkProxy) get(ctx context.Context, name, ref string) (string, *quirkManifest, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, q.target+"/v2/"+name+"/manifests/"+ref, nil)
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Accept", strings.Join(ManifestAccept, ", "))
	resp, err := q.hc.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("quirk proxy: GET %s: %s", ref, resp.Status)
	}
	m := &quirkManifest{}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(m); err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:]), m, nil
}
