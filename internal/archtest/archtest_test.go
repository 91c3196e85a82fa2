package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/nefele/nefele"

// m returns the import path pattern of rel inside the module.
func m(rel string) string { return module + "/" + rel }

// A rule forbids some imports to some packages. Patterns are import paths,
// "p/..." for p and everything below it, "..." for everything, and "std" for
// the standard library. A rule whose packages do not exist (yet) matches
// nothing.
type rule struct {
	pkgs   []string // the packages the rule applies to
	except []string // packages among pkgs it does not apply to
	forbid []string // the imports they may not have
	allow  []string // imports allowed although they match forbid
	deps   bool     // check every transitive dependency, not only direct imports
	why    string
}

var (
	agent       = m("internal/agent/...")
	apiserver   = m("internal/apiserver/...")
	etcdembed   = m("internal/etcdembed/...")
	isolate     = m("internal/isolate/...")
	logfile     = m("internal/logfile/...")
	model       = m("internal/model/...")
	netsim      = m("internal/netsim/...")
	store       = m("internal/store/...")
	supervisor  = m("internal/supervisor/...")
	testcluster = m("internal/testcluster/...")
)

// rules is the architecture: dependencies point downward only, and the
// agent is the one place where supervisor, store and apiserver meet.
var rules = []rule{{
	pkgs:   []string{m("sdk/...")},
	forbid: []string{m("internal/...")},
	deps:   true,
	why:    "sdk is the public Go package: it reaches agents through api/ only",
}, {
	pkgs:   []string{model},
	forbid: []string{"..."},
	allow:  []string{"std"},
	why:    "model is pure domain types: the standard library only",
}, {
	pkgs:   []string{m("internal/sched/...")},
	forbid: []string{store, supervisor, agent, apiserver, etcdembed, logfile, "go.etcd.io/..."},
	why:    "sched is pure placement, from spec and cluster view to ranked nodes: no I/O",
}, {
	pkgs:   []string{supervisor, logfile, isolate},
	forbid: []string{"go.etcd.io/...", store, apiserver, agent},
	why:    "a node's processes, their logs and cgroups know nothing of etcd or the API; the agent wires them up",
}, {
	pkgs:   []string{logfile, isolate},
	forbid: []string{supervisor, model},
	why:    "logfile and isolate are leaves that the supervisor uses",
}, {
	pkgs:   []string{m("...")},
	except: []string{store, etcdembed, agent},
	forbid: []string{"go.etcd.io/etcd/client/v3/..."},
	why:    "only store knows etcd keys (etcdembed and agent handle the member's lifecycle)",
}, {
	pkgs:   []string{m("...")},
	except: []string{etcdembed, agent, testcluster},
	forbid: []string{"go.etcd.io/etcd/server/v3/..."},
	why:    "only etcdembed embeds the etcd server",
}, {
	pkgs:   []string{m("internal/cli/...")},
	forbid: []string{store, supervisor, apiserver, etcdembed, model},
	why:    "the CLI eats its own SDK: it talks to agents through sdk/ (and starts one through internal/agent)",
}, {
	pkgs:   []string{m("cmd/nefele/...")},
	forbid: []string{m("...")},
	allow:  []string{m("internal/cli")},
	why:    "main only hands os.Args to internal/cli",
}, {
	pkgs:   []string{m("...")},
	except: []string{testcluster, netsim},
	forbid: []string{"testing/..."},
	why:    "test code lives in _test.go files, or in the test helpers internal/testcluster and internal/netsim",
}}

// docExempt lists the packages that need no doc comment: generated code.
var docExempt = []string{m("api/nefele/v1"), m("api/nefele/v1/nefelev1connect")}

// A pkg is what `go list -json` says of a package, as far as the rules care.
type pkg struct {
	ImportPath string
	Doc        string
	Imports    []string // direct, from non-test files
	Deps       []string // transitive
	Error      *struct{ Err string }
}

// match reports whether import path p matches pattern.
func match(pattern, p string) bool {
	switch {
	case pattern == "...":
		return true
	case pattern == "std":
		first, _, _ := strings.Cut(p, "/")
		return !strings.Contains(first, ".") && p != "C"
	case strings.HasSuffix(pattern, "/..."):
		base := strings.TrimSuffix(pattern, "/...")
		return p == base || strings.HasPrefix(p, base+"/")
	}
	return p == pattern
}

func matchAny(patterns []string, p string) bool {
	return slices.ContainsFunc(patterns, func(pattern string) bool { return match(pattern, p) })
}

// applies reports whether r applies to the package at path p.
func (r rule) applies(p string) bool {
	return matchAny(r.pkgs, p) && !matchAny(r.except, p)
}

// forbids reports whether r forbids importing imp.
func (r rule) forbids(imp string) bool {
	return matchAny(r.forbid, imp) && !matchAny(r.allow, imp)
}

// A violation is an import that a rule forbids.
type violation struct {
	pkg, imp string
	rule     rule
}

func (v violation) String() string {
	verb := "imports"
	if v.rule.deps {
		verb = "depends on"
	}
	return short(v.pkg) + " " + verb + " " + short(v.imp) + ": " + v.rule.why
}

// violations returns every import of pkgs that rules forbid.
func violations(pkgs []pkg, rules []rule) []violation {
	var out []violation
	for _, p := range pkgs {
		for _, r := range rules {
			if !r.applies(p.ImportPath) {
				continue
			}
			imports := p.Imports
			if r.deps {
				imports = p.Deps
			}
			for _, imp := range imports {
				if r.forbids(imp) {
					out = append(out, violation{p.ImportPath, imp, r})
				}
			}
		}
	}
	return out
}

// undocumented returns the packages of pkgs that build but have no doc
// comment, leaving out exempt ones; a package that does not build is its
// author's work in progress.
func undocumented(pkgs []pkg, exempt []string) []string {
	var out []string
	for _, p := range pkgs {
		if p.Error == nil && p.Doc == "" && !slices.Contains(exempt, p.ImportPath) {
			out = append(out, short(p.ImportPath))
		}
	}
	return out
}

// short returns p without the module prefix, for readable messages.
func short(p string) string {
	if rel, ok := strings.CutPrefix(p, module+"/"); ok {
		return rel
	}
	return p
}

// goList lists the module's packages with `go list -e`, which also reports
// packages that do not build.
func goList(t *testing.T) []pkg {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Doc,Imports,Deps,Error", "./...")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	// The rules are written for this module: if it moved, they match nothing.
	if !slices.ContainsFunc(pkgs, func(p pkg) bool { return p.ImportPath == m("internal/archtest") }) {
		t.Fatalf("go list did not list %s among %d packages: is the module still %s?", m("internal/archtest"), len(pkgs), module)
	}
	return pkgs
}

func TestDependencyDirection(t *testing.T) {
	for _, v := range violations(goList(t), rules) {
		t.Error(v.String())
	}
}

func TestPackageDocs(t *testing.T) {
	for _, p := range undocumented(goList(t), docExempt) {
		t.Errorf("%s has no package doc comment: say what it is and who may import it", p)
	}
}
