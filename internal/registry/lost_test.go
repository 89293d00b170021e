package registry

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
)

// A DELETE whose first attempt reached the registry and lost its answer
// (a dropped connection, a reset, a 5xx) and whose retry gets 404 was
// deleted by that first attempt: Delete reports success, so that apply and
// the journal record it as deleted and restore brings it back. A 404 after
// attempts the registry did not process (429, 408) or with no earlier
// attempt stays ErrNotFound.
func TestDeleteAnswerLostThen404(t *testing.T) {
	for _, tc := range []struct {
		first string
		want  error
	}{
		{"drop", nil},
		{"reset", nil},
		{"500", nil},
		{"503", nil},
		{"429", ErrNotFound},
		{"408", ErrNotFound},
		{"none", ErrNotFound},
	} {
		t.Run(tc.first, func(t *testing.T) {
			var n atomic.Int64
			f := newFakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) > 1 || tc.first == "none" {
					registryError(w, http.StatusNotFound, "MANIFEST_UNKNOWN")
					return
				}
				switch tc.first {
				case "drop":
					hangUp(w, false)
				case "reset":
					hangUp(w, true)
				case "500":
					registryError(w, http.StatusInternalServerError, "UNKNOWN")
				case "503":
					registryError(w, http.StatusServiceUnavailable, "UNAVAILABLE")
				case "429":
					registryError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS")
				case "408":
					registryError(w, http.StatusRequestTimeout, "TIMEOUT")
				}
			})
			c, _, _ := newTestClient(t, Options{})
			r := f.open(t, c)
			err := r.Delete(context.Background(), testDigest)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Delete: %v, want %v", err, tc.want)
			}
			// A HEAD or GET answered 404 after a lost answer is a 404.
			n.Store(0)
			if _, err := r.Head(context.Background(), testDigest); tc.first != "none" && !errors.Is(err, ErrNotFound) {
				t.Errorf("Head: %v, want not found", err)
			}
		})
	}
}

// A DELETE that fails for good after an attempt that reached the registry
// (every attempt dropped, or 5xx) matches ErrAnswerLost, besides its own
// error: the registry may have carried it out. One whose attempts the
// registry did not process (429) does not.
func TestDeleteFailsAfterLostAnswer(t *testing.T) {
	for _, tc := range []struct {
		answer string
		lost   bool
	}{
		{"drop", true},
		{"503", true},
		{"429", false},
		{"400", false},
	} {
		t.Run(tc.answer, func(t *testing.T) {
			f := newFakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
				switch tc.answer {
				case "drop":
					hangUp(w, false)
				case "503":
					registryError(w, http.StatusServiceUnavailable, "UNAVAILABLE")
				case "429":
					registryError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS")
				case "400":
					registryError(w, http.StatusBadRequest, "DIGEST_INVALID")
				}
			})
			c, _, _ := newTestClient(t, Options{Retry: RetryPolicy{Max: 2}})
			err := f.open(t, c).Delete(context.Background(), testDigest)
			if err == nil || errors.Is(err, ErrAnswerLost) != tc.lost {
				t.Fatalf("Delete: %v; ErrAnswerLost %v, want %v", err, errors.Is(err, ErrAnswerLost), tc.lost)
			}
			if tc.answer == "503" && !errors.Is(err, ErrServer) {
				t.Errorf("Delete: %v, want ErrServer too", err)
			}
		})
	}
}
