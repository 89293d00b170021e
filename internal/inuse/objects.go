package inuse

import (
	"fmt"
	"sort"
	"strings"
)

// The keys under which Kubernetes objects list containers (pod specs,
// pod templates, and the templates that ControllerRevisions hold) and
// their statuses.
var (
	containerKeys = map[string]bool{"containers": true, "initContainers": true, "ephemeralContainers": true}
	statusKeys    = map[string]bool{"containerStatuses": true, "initContainerStatuses": true, "ephemeralContainerStatuses": true}
)

// ObjectImages returns the image references a Kubernetes object (decoded
// JSON) names: the image of every container, init container and ephemeral
// container in its spec, its pod template or, for a ControllerRevision,
// its data; and the image and imageID of every container status (the
// digest that really runs). Each reference once, sorted.
func ObjectImages(obj map[string]any) []string {
	seen := map[string]bool{}
	for _, k := range []string{"spec", "status", "data"} {
		if v, ok := obj[k]; ok {
			walk(v, seen)
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func walk(v any, seen map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if list, ok := c.([]any); ok && (containerKeys[k] || statusKeys[k]) {
				for _, e := range list {
					m, ok := e.(map[string]any)
					if !ok {
						continue
					}
					fields := []string{"image"}
					if statusKeys[k] {
						fields = append(fields, "imageID")
					}
					for _, f := range fields {
						if s, ok := m[f].(string); ok && strings.TrimSpace(s) != "" {
							seen[strings.TrimSpace(s)] = true
						}
					}
				}
				continue
			}
			walk(c, seen)
		}
	case []any:
		for _, c := range x {
			walk(c, seen)
		}
	}
}

// ObjectName is "Kind namespace/name" ("Kind name" without a namespace).
func ObjectName(kind string, obj map[string]any) string {
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	if k, ok := obj["kind"].(string); ok && k != "" {
		kind = k
	}
	if kind == "" {
		kind = "object"
	}
	if ns != "" {
		return fmt.Sprintf("%s %s/%s", kind, ns, name)
	}
	return kind + " " + name
}
