package config

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// InUseSpec is the policy file's in_use block: the sources of images in
// use, read once for the whole run before any repository is planned.
//
//	in_use:
//	  kubernetes: [prod, staging]   # kubeconfig contexts; true: the current one
//	  files: [images.txt]           # lists, relative to the policy file
type InUseSpec struct {
	// Kubernetes are kubeconfig context names; "" is the current context
	// (or the in-cluster config), written `kubernetes: true`.
	Kubernetes []string `yaml:"kubernetes,omitempty"`
	// Files are in-use lists (a reference per line, or kubectl JSON).
	Files []string `yaml:"files,omitempty"`
}

// Empty reports whether s names no source.
func (s InUseSpec) Empty() bool { return len(s.Kubernetes) == 0 && len(s.Files) == 0 }

// Sources renders s as --keep-in-use-from values: "kubernetes",
// "kubernetes:CONTEXT", "file:PATH".
func (s InUseSpec) Sources() []string {
	var out []string
	for _, c := range s.Kubernetes {
		if c == "" {
			out = append(out, "kubernetes")
		} else {
			out = append(out, "kubernetes:"+c)
		}
	}
	for _, f := range s.Files {
		out = append(out, "file:"+f)
	}
	return out
}

var inUseKeys = []string{"kubernetes", "files"}

// inUse decodes the in_use block.
func (d *decoder) inUse(n *yaml.Node) (InUseSpec, error) {
	var s InUseSpec
	m, err := d.mapping(n, "in_use", "the in-use sources", inUseKeys)
	if err != nil {
		return s, err
	}
	if kn := m.value("kubernetes"); kn != nil {
		kn = deref(kn)
		if kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!bool" {
			v, err := d.boolean(kn, "in_use.kubernetes")
			if err != nil {
				return s, err
			}
			if v {
				s.Kubernetes = []string{""}
			}
		} else {
			items, err := d.sequence(kn, "in_use.kubernetes", "a list of kubeconfig context names, or true for the current context")
			if err != nil {
				return s, err
			}
			for _, it := range items {
				c, err := d.str(it, "in_use.kubernetes", "a kubeconfig context name")
				if err != nil {
					return s, err
				}
				if strings.TrimSpace(c) == "" {
					return s, d.errAt(deref(it), "in_use.kubernetes", c, "empty context name; write `kubernetes: true` for the current context")
				}
				s.Kubernetes = append(s.Kubernetes, c)
			}
		}
	}
	if fn := m.value("files"); fn != nil {
		items, err := d.sequence(fn, "in_use.files", "a list of files")
		if err != nil {
			return s, err
		}
		for _, it := range items {
			f, err := d.str(it, "in_use.files", "a file path")
			if err != nil {
				return s, err
			}
			if strings.TrimSpace(f) == "" || f == "-" {
				return s, d.errAt(deref(it), "in_use.files", f, "want a file path (standard input is --keep-in-use-from file:-)")
			}
			s.Files = append(s.Files, f)
		}
	}
	if s.Empty() {
		return s, d.errAt(deref(n), "in_use", "", "names no source; list kubernetes contexts or files")
	}
	return s, nil
}
