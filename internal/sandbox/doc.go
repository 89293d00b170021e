// Package sandbox runs a real CNCF distribution v3 registry in process
// for integration tests (through internal/registrytest's testing.TB
// wrappers), regprune-demo and the benchmark, and adds helpers to seed it,
// garbage-collect it, put auth in front of it and inject faults. It
// imports neither testing nor net/http/httptest: its functions return
// errors and what they start has a Close.
//
// What is real:
//
//   - The registry is distribution v3's own HTTP application
//     (registry/handlers.NewApp) on the filesystem storage driver, served by
//     net/http on 127.0.0.1:0. Delete is enabled unless
//     Options.DeleteDisabled. Every status code, header and quirk is the
//     real registry's. The configuration is built in code with the defaults
//     a YAML file would get (catalog maxentries and tags maxtags 1000), no
//     upload purger, access log off, log level error. Without Options.Dir
//     the storage lives under /dev/shm when writable (about 5 times faster
//     than ext4 here), else os.TempDir().
//   - Registry.GC is distribution's real garbage collector,
//     storage.MarkAndSweep with RemoveUntagged (what `registry
//     garbage-collect --delete-untagged` runs), on the same storage root.
//   - Options.Auth uses distribution's real `token` access controller
//     (registry/auth/token): the registry answers 401 with a Bearer
//     challenge and verifies every JWT itself (x5c chain against a
//     rootcertbundle, issuer, audience, exp/nbf, access claims).
//     Options.Htpasswd uses its real `htpasswd` access controller (Basic
//     auth, bcrypt file).
//
// What is written here:
//
//   - The token server (TokenAuth): a small net/http endpoint on
//     127.0.0.1, advertised as realm http://localhost:PORT/token because
//     go-containerregistry refuses a realm on a private IP literal. It
//     generates an ECDSA P-256 key and a self-signed certificate at start,
//     authenticates Basic credentials (GET) or an OAuth2 password /
//     refresh_token grant (POST), grants the intersection of the requested
//     and the allowed actions, and signs ES256 JWTs with the certificate in
//     the x5c header. distribution accepts a token for a fixed 60 s
//     (token.Leeway) after its exp claim; to make short TTLs bite, the exp
//     claim is issued+TTL-60s (rounded up to the second), so the registry
//     refuses the token once TTL has passed. expires_in carries the TTL; a
//     client that decodes exp itself would see a token that looks expired.
//   - Seeding (PushImage, PushIndex, Sign, AttachReferrer, SeedCI) builds
//     images with go-containerregistry's random and mutate packages (each
//     random layer gzipped once) and pushes them with the plainest API
//     calls (push.go: two requests per blob, a HEAD and a PUT per missing
//     index child, a PUT per tag). A manifest with a subject goes through
//     ggcr's remote writer, which maintains the referrers fallback tag
//     once it finds that distribution has no referrers API (404).
//   - Pullable is a hand-written full pull that checks every digest;
//     PullSet is a series of them that reads each child manifest and
//     blob once. Exists, Tags, Pullable and the pushes send their
//     requests alone on a registry without auth, and this package's
//     ggcr calls never try https (every registry here is plain http).
//   - Proxy is an httputil reverse proxy that counts requests and injects
//     latency, 429, 503 and dropped connections, and, through its
//     Intercept and Rewrite hooks, hostile answers; nothing of it
//     is distribution's.
//
// distribution and its GC log every request and deletion through logrus'
// standard logger; while any Registry of this package runs, that logger is
// set to the error level with its output discarded, and restored when the
// last one closes.
package sandbox
