package manifest

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// A cluster file holds only the settings of the user's installation: any other key, a typo or
// a key of the examples' own .example file, is an error naming the file and the key.
func TestClusterFileRefusesUnknownKeys(t *testing.T) {
	cases := map[string]struct{ content, unknown string }{
		"typo":                  {"partitionEnabled: true\n", "partitionEnabled"},
		"an example's fix":      {"description: d\nfix: rename it\n", "fix"},
		"an example's expect":   {"expect:\n  - rule: mesh-name\n    field: metadata.name\n", "expect"},
		"known and unknown key": {"name: east\nbogus: 1\n", "bogus"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ClusterFileName)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadClusterSettings(path, validators.Config{})
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `unknown field "`+tc.unknown+`"`) {
				t.Errorf("ReadClusterSettings: %v; want an error naming %s and the unknown field %q", err, path, tc.unknown)
			}
		})
	}
}

// A cluster file's keys are decoded over the flags' configuration: a key it sets wins, one it
// does not set keeps the flag's value, and its rules add to the flags' without changing them.
func TestClusterFileOverTheFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), ClusterFileName)
	content := "partitionsEnabled: true\npartition: ap1\nnamespacesEnabled: true\nedition: enterprise\nconsulVersion: \"1.16\"\n" +
		"consulK8sVersion: 1.6.2\nrules:\n  export-consul-service: \"off\"\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	base := validators.Config{ConnectInjectDefault: true, Actions: validators.RuleActions{"upstream-peer-known": validators.Deny}}
	s, err := ReadClusterSettings(path, base)
	if err != nil {
		t.Fatal(err)
	}
	v116, err := validators.ParseConsulVersion("1.16")
	if err != nil {
		t.Fatal(err)
	}
	want := validators.Config{PartitionsEnabled: true, Partition: "ap1", NamespacesEnabled: true, Edition: validators.EditionEnterprise,
		ConsulVersion: v116, AnnotationGrammar: validators.AnnotationGrammar1, ConnectInjectDefault: true,
		Actions: validators.RuleActions{"upstream-peer-known": validators.Deny, "export-consul-service": validators.Off}}
	if !reflect.DeepEqual(s.Config, want) {
		t.Errorf("got %+v\nwant %+v", s.Config, want)
	}
	if len(base.Actions) != 1 {
		t.Errorf("reading the file changed the flags' rules: %v", base.Actions)
	}
	for name, tc := range map[string]struct{ content, err string }{
		"bad edition":            {"edition: oss\n", `consul edition "oss": want ce or enterprise`},
		"bad version":            {"consulVersion: latest\n", `consul version "latest"`},
		"bad consul-k8s version": {"consulK8sVersion: newest\n", "consul-k8s version"},
	} {
		if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadClusterSettings(path, base); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.err)
		}
	}
	if err := os.WriteFile(path, []byte("rules:\n  export-consul-service: block\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = ReadClusterSettings(path, base)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), `rule "export-consul-service": action "block"`) {
		t.Errorf("a bad action: %v", err)
	}
}
