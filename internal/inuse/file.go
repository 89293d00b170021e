package inuse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxFileSize bounds an in-use list: a cluster's `kubectl get pods -A -o
// json` is a few megabytes per thousand pods.
const MaxFileSize = 256 << 20

// ErrSource is wrapped by every error of a source that could not be read
// in full; the run stops before any repository is planned.
var ErrSource = errors.New("in-use source unreadable")

// ReadList adds the references of an in-use list to s: one image
// reference per line, with # comments and blank lines; or the JSON that
// `kubectl get pods -A -o json` (or `kubectl get deploy,rs,... -o json`)
// writes, detected by its first character. name names the list in errors
// and reasons. A line that is no image reference fails the whole list.
func ReadList(s *Set, r io.Reader, name string) error {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return fmt.Errorf("%w: file %s: %w", ErrSource, name, err)
	}
	if len(data) > MaxFileSize {
		return fmt.Errorf("%w: file %s: larger than %d MiB", ErrSource, name, MaxFileSize>>20)
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		return readKubectlJSON(s, t, name)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		if err := s.Add(text, fmt.Sprintf("list %s:%d", name, line)); err != nil {
			return fmt.Errorf("%w: file %s:%d: %w", ErrSource, name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: file %s: line %d: %w", ErrSource, name, line+1, err)
	}
	s.AddSource("file:" + name)
	return nil
}

// readKubectlJSON reads a kubectl List (or one object) and adds the images
// of every item, named by its kind and name.
func readKubectlJSON(s *Set, data []byte, name string) error {
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%w: file %s: not a kubectl JSON document: %w", ErrSource, name, err)
	}
	var objs []map[string]any
	if items, ok := doc["items"]; ok {
		list, ok := items.([]any)
		if !ok {
			return fmt.Errorf("%w: file %s: items is not a list", ErrSource, name)
		}
		for i, it := range list {
			m, ok := it.(map[string]any)
			if !ok {
				return fmt.Errorf("%w: file %s: item %d is not an object", ErrSource, name, i)
			}
			objs = append(objs, m)
		}
	} else {
		if _, ok := doc["kind"]; !ok {
			return fmt.Errorf("%w: file %s: a JSON document with neither items nor kind is no kubectl output", ErrSource, name)
		}
		objs = append(objs, doc)
	}
	for _, o := range objs {
		user := ObjectName("", o) + " (" + name + ")"
		for _, img := range ObjectImages(o) {
			if err := s.Add(img, user); err != nil {
				// An image id without a name (docker://sha256:...) names
				// no repository; anything else is not an image.
				s.Skipped()
			}
		}
	}
	s.AddSource("file:" + name)
	return nil
}
