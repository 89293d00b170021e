package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// MaxListEntries bounds a tag list or a catalog: a listing longer than
// this fails, so that a registry cannot keep regprune paging for ever.
const MaxListEntries = 1_000_000

// listing pages through a tag list, a catalog or a referrers list and
// proves it complete.
//
// It follows Link rel="next" when the registry sends one. A page with
// exactly n entries and no Link may not be the last: the distribution spec
// allows a registry to omit Link, and go-containerregistry's registry
// does; listing then continues with ?n=N&last=<last entry>. A short or
// empty page without Link ends the listing.
//
// A listing that does not add up is an error matching ErrBadResponse, so
// that the repository fails closed: a URL visited twice (a loop), an entry
// listed twice (the pages overlap, or the registry ignores last), more
// than MaxListEntries entries, or more pages than the entries can justify
// (every page but the last must bring an entry). A tag missing from the
// listing is the one way a digest delete can destroy a kept image.
type listing struct {
	r     *Repo
	first string // URL of the first page, with ?n=
	host  string // registry host a Link may point at
	what  string // "tag list of host/path", "catalog of host", for errors
	key   string // "tags", "repositories" or "manifests"
	// n is the page size asked for; 0 when the listing is paged by Link
	// only (referrers), so that a page without Link is the last.
	n int
	// check, if set, refuses a page holding an invalid entry.
	check func(entries []string) error

	// accept is the Accept header; "" means application/json.
	accept string
	// maxBody bounds one page; 0 means 64 MiB. A larger page fails the
	// listing, rather than being cut and failing to parse.
	maxBody int64
	// maxEntries bounds the whole listing; 0 means MaxListEntries.
	maxEntries int
	// page, if set, checks each page's response before its body is read
	// (no is the page's number, from 1).
	page func(no int, resp *http.Response) error
	// decode, if set, turns the value of key into the entries' identities
	// (a referrer's digest); by default it is a list of strings.
	decode func(raw json.RawMessage) ([]string, error)
}

func (l *listing) run(ctx context.Context, fn func(page []string) error) error {
	base, err := url.Parse(l.first)
	if err != nil {
		return err
	}
	lim := l.limits()
	seenURL := map[string]bool{}
	seen := map[string]bool{}
	u := l.first
	var prev []string // the previous page, when the next URL is regprune's own
	for pages := 1; u != ""; pages++ {
		if seenURL[u] {
			return fmt.Errorf("%w: %s: pagination loops at %s", ErrBadResponse, l.what, redactQuery(u))
		}
		seenURL[u] = true
		if pages > lim.pages || pages > len(seen)+2 {
			return fmt.Errorf("%w: %s: %d pages for %d entries; at most one page without new entries and %d pages (%d entries of %d a page) are allowed",
				ErrBadResponse, l.what, pages, len(seen), lim.pages, lim.entries, l.n)
		}
		entries, resp, err := l.get(ctx, u, pages, lim)
		if err != nil {
			return err
		}
		if prev != nil && slices.Equal(entries, prev) {
			// The same page again for ?last=: the registry ignores last
			// (distribution 2.x does for tag lists). The listing is
			// complete only if it ignores n as well: ask for more once.
			done, err := l.ignoresN(ctx, base, prev)
			if err != nil {
				return err
			}
			if done {
				return nil
			}
			return fmt.Errorf("%w: %s: the registry ignores ?last= but honours ?n=, so the listing cannot be completed past %d entries", ErrBadResponse, l.what, len(prev))
		}
		if err := l.add(seen, entries, pages, lim.entries); err != nil {
			return err
		}
		next, err := nextLink(resp, l.host)
		if err != nil {
			return err
		}
		prev = nil
		if next == "" && l.n > 0 && len(entries) == l.n {
			// A full page and no Link: ask for what follows the last entry.
			q := url.Values{"n": {strconv.Itoa(l.n)}, "last": {entries[len(entries)-1]}}
			nu := *base
			nu.RawQuery = q.Encode()
			next = nu.String()
			prev = entries
		}
		if err := fn(entries); err != nil {
			return err
		}
		u = next
	}
	return nil
}

// listLimits are a listing's bounds, with their defaults filled in.
type listLimits struct {
	entries int    // entries in the whole listing
	pages   int    // pages the entries can justify
	body    int64  // bytes of one page
	accept  string // the Accept header
}

func (l *listing) limits() listLimits {
	lim := listLimits{entries: l.maxEntries, body: l.maxBody, accept: l.accept}
	if lim.entries <= 0 {
		lim.entries = MaxListEntries
	}
	if lim.body <= 0 {
		lim.body = 64 << 20
	}
	if lim.accept == "" {
		lim.accept = "application/json"
	}
	lim.pages = lim.entries + 2
	if l.n > 0 {
		lim.pages = lim.entries/l.n + 2
	}
	return lim
}

// get reads page number no at u and returns its entries, and its
// response (its body read and closed) for the Link header.
func (l *listing) get(ctx context.Context, u string, no int, lim listLimits) ([]string, *http.Response, error) {
	resp, err := l.r.do(ctx, http.MethodGet, u, lim.accept)
	if err != nil {
		return nil, nil, err
	}
	if l.page != nil {
		if err := l.page(no, resp); err != nil {
			resp.Body.Close()
			return nil, nil, err
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, lim.body+1))
	resp.Body.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: page %d: %w", l.what, no, err)
	}
	if int64(len(body)) > lim.body {
		return nil, nil, fmt.Errorf("%w: %s: page %d is larger than %d bytes; refused rather than cut", ErrBadResponse, l.what, no, lim.body)
	}
	var page map[string]json.RawMessage
	err = json.Unmarshal(body, &page)
	var entries []string
	if err == nil && page[l.key] != nil && string(page[l.key]) != "null" {
		if l.decode != nil {
			entries, err = l.decode(page[l.key])
		} else {
			err = json.Unmarshal(page[l.key], &entries)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrBadResponse, l.what, err)
	}
	return entries, resp, nil
}

// add checks the entries of page number no and adds them to seen: an
// invalid entry (check), an entry listed before, or more than
// maxEntries in all fails the listing.
func (l *listing) add(seen map[string]bool, entries []string, no, maxEntries int) error {
	if l.check != nil {
		if err := l.check(entries); err != nil {
			return err
		}
	}
	for _, e := range entries {
		if seen[e] {
			return fmt.Errorf("%w: %s lists %q twice (page %d): the pages do not add up to one listing", ErrBadResponse, l.what, e, no)
		}
		seen[e] = true
	}
	if len(seen) > maxEntries {
		return fmt.Errorf("%w: %s has more than %d entries", ErrBadResponse, l.what, maxEntries)
	}
	return nil
}

// ignoresN asks for the first page with twice the page size: a registry
// that answers with the same entries again, fewer than asked for, has
// listed everything it has.
func (l *listing) ignoresN(ctx context.Context, base *url.URL, page []string) (bool, error) {
	nu := *base
	nu.RawQuery = url.Values{"n": {strconv.Itoa(2 * l.n)}}.Encode()
	resp, err := l.r.do(ctx, http.MethodGet, nu.String(), "application/json")
	if err != nil {
		return false, err
	}
	var body map[string]json.RawMessage
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&body)
	resp.Body.Close()
	var entries []string
	if err == nil && body[l.key] != nil {
		err = json.Unmarshal(body[l.key], &entries)
	}
	if err != nil {
		return false, fmt.Errorf("%w: %s: %v", ErrBadResponse, l.what, err)
	}
	return slices.Equal(entries, page), nil
}
