package framework_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

func TestReadExample(t *testing.T) {
	cases := map[string]struct {
		content string // "" writes no example file
		want    framework.Example
		err     string
	}{
		"no example file: nothing documented": {},
		"fix and expect": {
			content: "fix: Name the Mesh resource mesh.\nexpect:\n  - rule: mesh-name\n    field: metadata.name\n",
			want:    framework.Example{Fix: "Name the Mesh resource mesh.", Expect: []framework.Expectation{{Rule: "mesh-name", Field: "metadata.name"}}},
		},
		"a cluster file's key is unknown here": {content: "description: d\n", err: `unknown field "description"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.content != "" {
				if err := os.WriteFile(filepath.Join(dir, framework.ExampleFileName), []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := framework.ReadExample(dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ReadExample = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
