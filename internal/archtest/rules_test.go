package archtest

import (
	"slices"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"...", "anything/at/all", true},
		{"std", "fmt", true},
		{"std", "net/http", true},
		{"std", "golang.org/x/sys/unix", false},
		{"std", m("internal/model"), false},
		{"std", "C", false},
		{m("sdk/..."), m("sdk"), true},
		{m("sdk/..."), m("sdk/inner"), true},
		{m("sdk/..."), m("sdkx"), false},
		{m("internal/cli"), m("internal/cli"), true},
		{m("internal/cli"), m("internal/cli/sub"), false},
		{"go.etcd.io/...", "go.etcd.io/etcd/client/v3", true},
		{"go.etcd.io/etcd/client/v3/...", "go.etcd.io/etcd/client/v3/concurrency", true},
		{"go.etcd.io/etcd/client/v3/...", "go.etcd.io/etcd/server/v3/embed", false},
		{"testing/...", "testing", true},
		{"testing/...", "testing/synctest", true},
	} {
		if got := match(tc.pattern, tc.path); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

// The rules catch violations in a made-up module, and let its allowed
// imports through.
func TestRulesCatchViolations(t *testing.T) {
	pkgs := []pkg{
		{ImportPath: m("sdk"), Imports: []string{m("api/nefele/v1")}, Deps: []string{"fmt", m("api/nefele/v1"), m("internal/model")}},
		{ImportPath: m("internal/model"), Imports: []string{"fmt", "github.com/google/uuid"}},
		{ImportPath: m("internal/store"), Imports: []string{"go.etcd.io/etcd/client/v3", m("internal/model")}},
		{ImportPath: m("internal/apiserver"), Imports: []string{"go.etcd.io/etcd/client/v3/concurrency"}},
		{ImportPath: m("internal/supervisor"), Imports: []string{"os/exec", "testing", m("internal/logfile")}},
		{ImportPath: m("internal/testcluster"), Imports: []string{"testing", "go.etcd.io/etcd/server/v3/embed"}},
		{ImportPath: m("internal/cli"), Imports: []string{m("sdk"), m("internal/agent"), m("internal/store")}},
		{ImportPath: m("cmd/nefele"), Imports: []string{"os", m("internal/cli"), m("internal/agent")}},
	}
	want := []string{
		"sdk -> internal/model",
		"internal/model -> github.com/google/uuid",
		"internal/apiserver -> go.etcd.io/etcd/client/v3/concurrency",
		"internal/supervisor -> testing",
		"internal/cli -> internal/store",
		"cmd/nefele -> internal/agent",
	}
	var got []string
	for _, v := range violations(pkgs, rules) {
		got = append(got, short(v.pkg)+" -> "+short(v.imp))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n%q\nwant:\n%q", got, want)
	}
}

func TestUndocumented(t *testing.T) {
	pkgs := []pkg{
		{ImportPath: m("internal/model"), Doc: "Package model holds domain types."},
		{ImportPath: m("internal/nodoc")},
		{ImportPath: m("internal/broken"), Error: &struct{ Err string }{"no Go files"}},
		{ImportPath: m("api/nefele/v1")},
	}
	got := undocumented(pkgs, docExempt)
	if want := []string{"internal/nodoc"}; !slices.Equal(got, want) {
		t.Errorf("undocumented = %q, want %q", got, want)
	}
}
