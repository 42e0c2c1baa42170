package tests

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocReferencesResolve keeps the repository standing alone: every
// relative Markdown link in its .md files, and every design or scenario
// document its .md, .go and .yaml files name, is a file in the repository.
func TestDocReferencesResolve(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\]\(([^)\s#]+)(#[^)\s]*)?\)`)
	docRef := regexp.MustCompile(`[\w./-]*(?:DESIGN|scenarios)\.md`)
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(path)
		if ext != ".md" && ext != ".go" && ext != ".yaml" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		var refs []string
		if ext == ".md" {
			for _, m := range link.FindAllStringSubmatch(string(data), -1) {
				if !strings.Contains(m[1], "://") && !strings.HasPrefix(m[1], "mailto:") {
					refs = append(refs, filepath.Join(filepath.Dir(path), m[1]))
				}
			}
		}
		// Documents named in text are read from the repository's root, or in
		// Markdown from the file's own folder.
		for _, m := range docRef.FindAllString(string(data), -1) {
			ref := filepath.Join(root, m)
			if _, err := os.Stat(ref); err != nil && ext == ".md" {
				ref = filepath.Join(filepath.Dir(path), m)
			}
			refs = append(refs, ref)
		}
		for _, ref := range refs {
			checked++
			if !strings.HasPrefix(ref, root+string(filepath.Separator)) {
				t.Errorf("%s refers to %s, outside the repository", rel, ref)
				continue
			}
			if _, err := os.Stat(ref); err != nil {
				r, _ := filepath.Rel(root, ref)
				t.Errorf("%s refers to %s, which is not in the repository", rel, r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no references found; the scan is broken")
	}
}
