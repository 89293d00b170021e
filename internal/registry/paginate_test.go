package registry

// Unit tests of the listing helper (paginate.go) against httptest servers
// that produce listings no real registry produces on demand: a Link that
// loops, Link after Link of empty pages. The integration tests in
// internal/engine cover full pages without Link, repeated tags and a
// registry that ignores ?last=, on the real registries.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func listServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func listAll(t *testing.T, host string, pageSize int) ([]string, error) {
	t.Helper()
	ctx := context.Background()
	rp, err := New(Options{PageSize: pageSize}).Open(ctx, host+"/app", Pull)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	err = rp.ListTags(ctx, func(page []string) error {
		all = append(all, page...)
		return nil
	})
	return all, err
}

// A Link back to a page already read is a loop.
func TestListingLoop(t *testing.T) {
	host := listServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `</v2/app/tags/list?n=2&last=b>; rel="next"`)
		if r.URL.Query().Get("last") == "" {
			fmt.Fprint(w, `{"tags":["a","b"]}`)
			return
		}
		fmt.Fprint(w, `{"tags":["c"]}`)
	})
	_, err := listAll(t, host, 2)
	if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "loops") {
		t.Fatalf("err %v, want a loop", err)
	}
}

// Empty pages with a Link each, for ever: every page but the last must
// bring an entry, so the listing stops at once.
func TestListingPagesBounded(t *testing.T) {
	n := 0
	host := listServer(t, func(w http.ResponseWriter, r *http.Request) {
		n++
		w.Header().Set("Link", fmt.Sprintf(`</v2/app/tags/list?n=2&last=x%d>; rel="next"`, n))
		fmt.Fprint(w, `{"tags":[]}`)
	})
	_, err := listAll(t, host, 2)
	if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "pages") || n > 3 {
		t.Fatalf("err %v after %d pages, want the page bound", err, n)
	}
}

// A full page without Link is continued with ?last=; a short one ends the
// listing; a registry that ignores n and last (sends everything each
// time) is complete after a check with a larger n.
func TestListingWithoutLink(t *testing.T) {
	tags := []string{"a", "b", "c", "d", "e"}
	var asked []string
	host := listServer(t, func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.RawQuery)
		q := r.URL.Query()
		var n int
		fmt.Sscan(q.Get("n"), &n)
		var page []string
		for _, tg := range tags {
			if tg > q.Get("last") && len(page) < n {
				page = append(page, tg)
			}
		}
		fmt.Fprintf(w, `{"tags":["%s"]}`, strings.Join(page, `","`))
	})
	got, err := listAll(t, host, 2)
	if err != nil || strings.Join(got, ",") != "a,b,c,d,e" || len(asked) != 3 {
		t.Fatalf("tags %v, err %v, requests %q", got, err, asked)
	}

	asked = nil
	host = listServer(t, func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.RawQuery)
		fmt.Fprint(w, `{"tags":["a","b"]}`)
	})
	got, err = listAll(t, host, 2)
	if err != nil || strings.Join(got, ",") != "a,b" || len(asked) != 3 {
		t.Fatalf("ignores n and last: tags %v, err %v, requests %q", got, err, asked)
	}
}
