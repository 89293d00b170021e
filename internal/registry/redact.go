package registry

import (
	"encoding/base64"
	"errors"
	"sort"
	"strings"
	"sync"
)

// secrets are the credentials a Client has handled: passwords and their
// base64 forms, identity and registry tokens, and every credential an
// Authorization header carried. Every error the client returns is
// rendered with them replaced, whatever echoed them (a token endpoint's
// error body, a registry's error message, a credential helper).
type secrets struct {
	mu   sync.Mutex
	set  map[string]bool
	list []string // longest first
}

const redacted = "[redacted]"

func (s *secrets) add(vs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vs {
		if len(v) < 4 || s.set[v] {
			continue
		}
		if s.set == nil {
			s.set = map[string]bool{}
		}
		s.set[v] = true
		s.list = append(s.list, v)
	}
	sort.Slice(s.list, func(i, j int) bool { return len(s.list[i]) > len(s.list[j]) })
}

// encodings returns v and its base64 forms: standard and URL alphabets,
// with and without padding.
func encodings(v string) []string {
	b := []byte(v)
	return []string{v,
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)}
}

// addCredentials records a user's password in every form it may take.
func (s *secrets) addCredentials(user, pass string) {
	if pass == "" {
		return
	}
	s.add(encodings(pass)...)
	s.add(encodings(user + ":" + pass)...)
}

// addAuthorization records the credential of an Authorization header
// value: a Basic value and what it decodes to, a Bearer token and its
// JWT signature.
func (s *secrets) addAuthorization(h string) {
	scheme, cred, ok := strings.Cut(h, " ")
	if cred = strings.TrimSpace(cred); !ok || cred == "" {
		return
	}
	s.add(cred)
	switch strings.ToLower(scheme) {
	case "basic":
		if b, err := base64.StdEncoding.DecodeString(cred); err == nil {
			user, pass, _ := strings.Cut(string(b), ":")
			s.addCredentials(user, pass)
		}
	case "bearer":
		s.add(encodings(cred)...)
		if parts := strings.Split(cred, "."); len(parts) == 3 {
			s.add(parts[2])
		}
	}
}

func (s *secrets) redact(text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.list {
		text = strings.ReplaceAll(text, v, redacted)
	}
	return text
}

// wrap returns err rendered without secrets. errors.Is still sees the
// original; nothing can unwrap to its text.
func (s *secrets) wrap(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if r := s.redact(msg); r != msg {
		return &redactedError{msg: r, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string        { return e.msg }
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

// helperOutput cuts what a credential helper printed out of its error:
// docker-credential-helpers quote its stdout after ", out: `".
func helperOutput(err error) error {
	msg := err.Error()
	i := strings.Index(msg, ", out: `")
	if i < 0 {
		return err
	}
	return &redactedError{msg: msg[:i] + " (the helper's output is not shown)", err: err}
}
