package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestReadmeExamplesSayWhatTheCLIDoes: the README's `rzone shard move N Z`
// examples call N a shard (the CLI takes a shard number, not a user), and
// no line states one fixed cycle as the bill a payment goes into (the
// cycle is the month of the payment).
func TestReadmeExamplesSayWhatTheCLIDoes(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	move := regexp.MustCompile(`rzone shard move (\d+) [A-Z]+\s+#(.*)`)
	fixedBill := regexp.MustCompile(`(?i)into (the )?bill \d{6}\b`)
	moves := 0
	for i, line := range strings.Split(string(b), "\n") {
		if m := move.FindStringSubmatch(line); m != nil {
			moves++
			if !strings.Contains(m[2], "shard "+m[1]) || strings.Contains(m[2], "user "+m[1]+"'s shard") {
				t.Errorf("README.md:%d: `rzone shard move %s` takes shard %s, the comment says %q", i+1, m[1], m[1], strings.TrimSpace(m[2]))
			}
		}
		if fixedBill.MatchString(line) {
			t.Errorf("README.md:%d names a fixed cycle as the bill of a payment: %s", i+1, strings.TrimSpace(line))
		}
	}
	if moves == 0 {
		t.Error("README.md has no `rzone shard move N ZONE # ...` example")
	}
	// The CLI's own usage agrees.
	root := newRootCmd()
	if cmd, _, err := root.Find([]string{"shard", "move"}); err != nil || !strings.HasPrefix(cmd.Use, "move SHARD ") {
		t.Errorf("rzone shard move: %v %q", err, cmd.Use)
	}
}

// TestReadmeCommandLinesAreCommands: every rzone command line the README
// shows (in a code block, or in backquotes in the text and tables) names a
// command of the CLI, with flags that command has and as many arguments as
// it takes. A renamed flag or verb fails here, not in a user's terminal.
// A command named in the text without arguments (`rzone pay`) is checked
// for its name only; [brackets] mark optional flags; upper-case words are
// placeholders.
func TestReadmeCommandLinesAreCommands(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	inline := regexp.MustCompile("`(rzone [^`]*)`")
	checked := 0
	inBlock, cont := false, ""
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			inBlock = !inBlock
			continue
		}
		type cand struct {
			text  string
			named bool // in the text: may name a command without its arguments
		}
		var cands []cand
		if inBlock || strings.HasPrefix(line, "    ") {
			if strings.HasSuffix(trimmed, "\\") {
				cont += strings.TrimSuffix(trimmed, "\\") + " "
				continue
			}
			cands = append(cands, cand{strings.TrimPrefix(cont+trimmed, "$ "), false})
			cont = ""
		} else {
			for _, m := range inline.FindAllStringSubmatch(line, -1) {
				cands = append(cands, cand{m[1], true})
			}
		}
		for _, c := range cands {
			for _, part := range strings.FieldsFunc(c.text, func(r rune) bool { return strings.ContainsRune("|;&#>()", r) }) {
				words := strings.Fields(strings.NewReplacer("[", " ", "]", " ").Replace(part))
				// Shell words before the command: assignments, loops.
				for len(words) > 0 && (strings.Contains(words[0], "=") || words[0] == "until" || words[0] == "do" || words[0] == "then" || words[0] == "exec") {
					words = words[1:]
				}
				if len(words) < 2 || words[0] != "rzone" {
					continue
				}
				if msg := checkCommandLine(words[1:], c.named); msg != "" {
					t.Errorf("README.md:%d: `%s`: %s", i+1, strings.Join(words, " "), msg)
				}
				checked++
			}
		}
	}
	if checked < 40 {
		t.Fatalf("only %d rzone command lines found in README.md; the scan is broken", checked)
	}
	t.Logf("%d rzone command lines checked", checked)
	// The check itself tells a wrong line.
	for _, bad := range [][]string{{"pay", "42", "1", "--nope"}, {"zone", "failover"}, {"snapshot", "save", "f", "--zones", "A"}, {"nodes", "drain", "a1"}, {"op", "show", "1", "2"}} {
		if checkCommandLine(bad, false) == "" {
			t.Errorf("checkCommandLine(rzone %s) passed a line the CLI refuses", strings.Join(bad, " "))
		}
	}
}

// checkCommandLine checks one command line's words (after "rzone"); "" if
// it is a command of the CLI as written. named allows a bare command name.
func checkCommandLine(words []string, named bool) string {
	if strings.HasPrefix(words[0], "-") {
		return "" // rzone --version, --help
	}
	root := newRootCmd()
	cmd, rest, err := root.Find(words)
	if err != nil {
		return err.Error()
	}
	if cmd == root {
		return fmt.Sprintf("no command %q", words[0])
	}
	var args []string
	for i := 0; i < len(rest); i++ {
		w := rest[i]
		if !strings.HasPrefix(w, "-") || w == "-" {
			args = append(args, w)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
		var f *pflag.Flag
		if strings.HasPrefix(w, "--") {
			f = cmd.Flag(name)
		} else if len(name) == 1 {
			f = cmd.Flags().ShorthandLookup(name)
			if f == nil {
				f = cmd.InheritedFlags().ShorthandLookup(name)
			}
		}
		if f == nil && name == "help" {
			continue // cobra adds --help when it runs
		}
		if f == nil {
			return fmt.Sprintf("%s has no flag %s", cmd.CommandPath(), w)
		}
		if !hasValue && f.Value.Type() != "bool" {
			i++ // its value
		}
	}
	for _, a := range args {
		if strings.Contains(a, "…") || a == "..." {
			return "" // an elided example
		}
	}
	if named && len(args) == 0 {
		return ""
	}
	if err := cmd.ValidateArgs(args); err != nil {
		return err.Error()
	}
	return ""
}

// TestReadmePathsResolve: every repository path the README names in
// backquotes (a folder/ or a file with an extension) exists in the
// repository (tests/TestDocReferencesResolve checks the Markdown links and
// the design documents named anywhere).
func TestReadmePathsResolve(t *testing.T) {
	const root = "../.."
	data, err := os.ReadFile(root + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\]\(([^)#\s]+)`)
	path := regexp.MustCompile("`((?:[a-z0-9_.-]+/)+(?:[A-Za-z0-9_.-]+\\.(?:go|md|yml|json|sh|png))?)`")
	seen := 0
	for i, line := range strings.Split(string(data), "\n") {
		var refs []string
		for _, m := range link.FindAllStringSubmatch(line, -1) {
			if !strings.Contains(m[1], "://") {
				refs = append(refs, m[1])
			}
		}
		for _, m := range path.FindAllStringSubmatch(line, -1) {
			p := m[1]
			if strings.HasPrefix(p, "out/") || strings.HasPrefix(p, "data/") || strings.HasPrefix(p, "backup/") && p != "backup/" {
				continue // made by the commands the README shows
			}
			refs = append(refs, p)
		}
		for _, r := range refs {
			seen++
			if strings.HasPrefix(r, "../") {
				t.Errorf("README.md:%d points outside the repository: %s", i+1, r)
				continue
			}
			if _, err := os.Stat(root + "/" + r); err != nil {
				t.Errorf("README.md:%d names %s, which is not in the repository", i+1, r)
			}
		}
	}
	if seen < 20 {
		t.Fatalf("only %d references found in README.md; the scan is broken", seen)
	}
}
