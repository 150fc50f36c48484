package app

import (
	"bytes"
	"encoding/json"
	"runtime"
	"slices"
	"testing"
)

// testBuild is the build runCLI runs the command line as (stamp sets it).
var testBuild Build

// stamp sets the build for one test, as main's -ldflags -X variables would.
func stamp(t *testing.T, v, rev, date string) {
	t.Helper()
	old := testBuild
	testBuild = Build{Version: v, Revision: rev, Date: date}
	t.Cleanup(func() { testBuild = old })
}

func TestVersionJSONHasExactlyTheDocumentedKeys(t *testing.T) {
	stamp(t, "v0.3.1", "0123456789abcdef0123456789abcdef01234567", "2026-11-25T22:00:00Z")
	code, out, errOut := runCLI(t, "version", "-o", "json")
	if code != exitAllowed {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	keys := make([]string, 0, len(raw))
	for k, v := range raw {
		keys = append(keys, k)
		if _, ok := v.(string); !ok {
			t.Errorf("%s is %T, want a string", k, v)
		}
	}
	slices.Sort(keys)
	if want := []string{"buildDate", "goVersion", "platform", "revision", "version"}; !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	var got VersionInfo
	dec := json.NewDecoder(bytes.NewReader([]byte(out)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := VersionInfo{
		Version:   "v0.3.1",
		Revision:  "0123456789abcdef0123456789abcdef01234567",
		BuildDate: "2026-11-25T22:00:00Z",
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestVersionTextNamesEveryStampedValue(t *testing.T) {
	stamp(t, "v0.3.1", "abc123", "2026-11-25T22:00:00Z")
	code, out, _ := runCLI(t, "version")
	want := "consul-peering-guard v0.3.1 (revision abc123, commit date 2026-11-25T22:00:00Z, " + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if code != exitAllowed || out != want {
		t.Fatalf("exit %d: %q, want %q", code, out, want)
	}
}

// A binary built without -ldflags (go run, go test, a plain go build) never prints empty
// fields: it says dev and unknown unless the toolchain recorded a version or revision.
func TestVersionUnstampedHasNoEmptyField(t *testing.T) {
	stamp(t, "", "", "")
	code, out, _ := runCLI(t, "version", "-o", "json")
	var got VersionInfo
	if err := json.Unmarshal([]byte(out), &got); code != exitAllowed || err != nil {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if got.Version == "" || got.Revision == "" || got.BuildDate == "" {
		t.Errorf("empty field: %+v", got)
	}
	if got.Version != "dev" {
		t.Errorf("a test binary has no module version; want dev, got %q", got.Version)
	}
}

func TestVersionRefusesUnknownOutput(t *testing.T) {
	code, _, errOut := runCLI(t, "version", "-o", "yaml")
	if code != exitUsage || errOut != "error: --output \"yaml\": want text or json\n" {
		t.Fatalf("exit %d: %q", code, errOut)
	}
}
