package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
			_, err := ReadClusterSettings(path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `unknown field "`+tc.unknown+`"`) {
				t.Errorf("ReadClusterSettings: %v; want an error naming %s and the unknown field %q", err, path, tc.unknown)
			}
		})
	}
}
