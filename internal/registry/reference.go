package registry

import (
	"fmt"
	"strconv"
	"strings"
)

// CheckNoUserinfo refuses a reference that carries credentials
// (user:password@host/path, with or without a scheme) without repeating
// them: the error shows only what follows the last "@". Credentials come
// from a credential source, never from a command line or a file of names.
func CheckNoUserinfo(s string) error {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return nil
	}
	// host/path@sha256:... is a digest reference, refused elsewhere for
	// what it is; an "@" followed by host/path is userinfo.
	rest := s[at+1:]
	if !strings.Contains(rest, "/") {
		return nil
	}
	scheme := ""
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		scheme = s[:i+3]
	}
	return fmt.Errorf("repository %s***@%s: credentials in a reference (user:password@host) are not supported, and were not used; "+
		"give them through a credential source: REGPRUNE_USERNAME and REGPRUNE_PASSWORD, docker login (the Docker config) or a credential helper", scheme, rest)
}

// checkPort refuses a host's port outside 1 to 65535 ("host:0",
// "host:99999"): bad input, not a connection that fails.
func checkPort(s, host string) error {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.HasSuffix(host, "]") { // no port, or [::1]
		return nil
	}
	if n, err := strconv.Atoi(host[i+1:]); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("repository %q: port %q: want a number from 1 to 65535", s, host[i+1:])
	}
	return nil
}
