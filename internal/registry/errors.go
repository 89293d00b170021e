package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Sentinel errors, checked with errors.Is. Every *Error matches the one its
// status and code imply.
var (
	ErrNotFound     = errors.New("not found")
	ErrBadRequest   = errors.New("request refused as malformed")
	ErrUnauthorized = errors.New("authentication failed")
	ErrDenied       = errors.New("access denied")
	ErrUnsupported  = errors.New("operation unsupported by the registry")
	ErrRateLimited  = errors.New("rate limited")
	ErrServer       = errors.New("registry server error")
	ErrBadResponse  = errors.New("malformed registry response")
	ErrInsecure     = errors.New("plain HTTP refused")
	// ErrAnswerLost matches a DELETE's failure when an attempt of it
	// reached the registry and its answer was lost (a reset, a timeout,
	// a 5xx): the registry may have carried it out.
	ErrAnswerLost = errors.New("an attempt reached the registry and its answer was lost")

	// A registry that refuses a digest delete until something else is
	// gone first. Neither is a success, nor a refusal of every delete:
	// apply retries the item once what must go first went, and reports
	// it failed, named, if the registry still refuses.
	//
	// ErrStillTagged: a tag still names the manifest. GAR and GCR answer
	// 400 GOOGLE_MANIFEST_DANGLING_TAG ("untag first"; vendors.md §4).
	ErrStillTagged = errors.New("the manifest is still tagged")
	// ErrStillReferenced: an index (or another artifact) still lists the
	// manifest. GAR and GCR answer GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE,
	// ECR ImageReferencedByManifestList, Harbor 412 Precondition Failed
	// ("the deleting artifact is referenced by others"; vendors.md §3, §4,
	// §7), Docker Hub 403 (still tagged or referenced).
	ErrStillReferenced = errors.New("the manifest is still referenced by another manifest")
	// ErrPending: the registry accepted to retry the delete in the
	// background (Docker Hub's 500); a later run verifies it.
	ErrPending = errors.New("delete pending")
	// ErrProtected: the registry keeps a protected or immutable tag
	// (GitLab's 403 for it); that tag's refusal, not a denial.
	ErrProtected = errors.New("protected by the registry")
	// ErrContentMissing: a push refused because a blob or manifest it
	// names is not in the repository (MANIFEST_BLOB_UNKNOWN, BLOB_UNKNOWN,
	// MANIFEST_UNKNOWN).
	ErrContentMissing = errors.New("a blob or manifest the pushed manifest names is missing")
)

// The error codes of ErrStillTagged and ErrStillReferenced.
const (
	CodeGoogleDanglingTag    = "GOOGLE_MANIFEST_DANGLING_TAG"
	CodeGoogleDanglingParent = "GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE"
	CodeECRReferencedByList  = "ImageReferencedByManifestList"
)

// The error codes of ErrContentMissing (distribution-spec).
const (
	CodeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	CodeBlobUnknown         = "BLOB_UNKNOWN"
	CodeManifestUnknown     = "MANIFEST_UNKNOWN"
)

// Error is the one structured protocol error of this package. It never
// holds request headers, so no credential can leak through it.
type Error struct {
	Method  string
	Path    string // URL path, no query
	Status  int
	Code    string // first error code of the body, e.g. MANIFEST_UNKNOWN
	Message string
	// Distribution: the answer is CNCF distribution's own (its API
	// version header and its words for UNSUPPORTED), so that advice can
	// name its settings.
	Distribution bool
}

// FromDistribution reports whether CNCF distribution gave the answer.
func (e *Error) FromDistribution() bool { return e.Distribution }

// distributionUnsupported is distribution's message for UNSUPPORTED
// (registry/api/errcode), which a 405 to a DELETE carries when its
// deletes are off.
const distributionUnsupported = "The operation is unsupported."

func (e *Error) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is maps the error to the package's sentinels.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrDenied:
		return e.Status == http.StatusForbidden
	case ErrUnsupported:
		return e.Status == http.StatusMethodNotAllowed || e.Code == "UNSUPPORTED"
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrServer:
		return e.Status >= 500
	case ErrStillTagged:
		return e.Code == CodeGoogleDanglingTag
	case ErrContentMissing:
		return e.Code == CodeManifestBlobUnknown || e.Code == CodeBlobUnknown || e.Code == CodeManifestUnknown
	case ErrStillReferenced:
		return e.Code == CodeGoogleDanglingParent || e.Code == CodeECRReferencedByList ||
			(e.Status == http.StatusPreconditionFailed && e.Method == http.MethodDelete)
	}
	return false
}

// newError reads (a bounded part of) resp's body into an *Error.
func newError(resp *http.Response) *Error {
	e := &Error{Status: resp.StatusCode}
	if resp.Request != nil {
		e.Method = resp.Request.Method
		if resp.Request.URL != nil {
			e.Path = resp.Request.URL.Path
		}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	var env struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Errors) > 0 {
		e.Code, e.Message = env.Errors[0].Code, env.Errors[0].Message
	} else if s := strings.TrimSpace(string(body)); s != "" && len(s) < 200 && !strings.ContainsAny(s, "<{") {
		e.Message = s
	}
	if resp.Request != nil {
		e.Message = redactCredential(e.Message, resp.Request.Header.Get("Authorization"))
	}
	e.Distribution = resp.Header.Get("Docker-Distribution-Api-Version") == "registry/2.0" &&
		e.Code == "UNSUPPORTED" && e.Message == distributionUnsupported
	return e
}

// redactCredential removes the credential of an Authorization header value
// from msg, for a registry that echoes it back in an error message.
func redactCredential(msg, authorization string) string {
	_, cred, ok := strings.Cut(authorization, " ")
	if cred = strings.TrimSpace(cred); !ok || len(cred) < 4 {
		return msg
	}
	return strings.ReplaceAll(msg, cred, "[redacted]")
}
