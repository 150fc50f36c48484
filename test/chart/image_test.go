package chart

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// goBuild is one `go build` command line: its environment, flags, output and package.
type goBuild struct {
	env    []string
	flags  []string
	output string
	pkg    string
}

// parseGoBuild reads `[VAR=value ...] go build [flags] -o OUT PKG` from shell words.
func parseGoBuild(t *testing.T, words []string) goBuild {
	t.Helper()
	var b goBuild
	i := 0
	for i < len(words) && strings.Contains(words[i], "=") {
		b.env = append(b.env, words[i])
		i++
	}
	if i+1 >= len(words) || words[i] != "go" || words[i+1] != "build" {
		t.Fatalf("not a go build command: %q", words)
	}
	rest := words[i+2:]
	if len(rest) == 0 {
		t.Fatalf("go build without a package: %q", words)
	}
	b.pkg = rest[len(rest)-1]
	for j := 0; j < len(rest)-1; j++ {
		if rest[j] == "-o" && j+1 < len(rest)-1 {
			b.output = rest[j+1]
			j++
			continue
		}
		b.flags = append(b.flags, rest[j])
	}
	return b
}

// shellWords splits a command line as a POSIX shell would for the simple quoting the
// Dockerfile and Makefile use (double and single quotes, no expansions).
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// dockerfile returns the Dockerfile's instructions (continuation lines are not used).
func dockerfile(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			t.Fatalf("Dockerfile: keep every instruction on one line: %s", line)
		}
		out = append(out, line)
	}
	return out
}

func dockerfileBuild(t *testing.T) goBuild {
	t.Helper()
	var builds []string
	for _, ins := range dockerfile(t) {
		if strings.HasPrefix(ins, "RUN ") && strings.Contains(ins, "go build") {
			builds = append(builds, strings.TrimPrefix(ins, "RUN "))
		}
	}
	if len(builds) != 1 {
		t.Fatalf("want one RUN ... go build line in the Dockerfile, got %q", builds)
	}
	return parseGoBuild(t, shellWords(t, builds[0]))
}

// makeRecipe returns the recipe lines of a Makefile target.
func makeRecipe(t *testing.T, target string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var recipe []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, target+":"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			recipe = append(recipe, strings.TrimPrefix(line, "\t"))
		case in:
			return recipe
		}
	}
	if !in {
		t.Fatalf("Makefile has no target %s", target)
	}
	return recipe
}

// makeVariable returns the value of a recursively expanded Makefile variable (NAME = value).
func makeVariable(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" = "); ok {
			return v
		}
	}
	t.Fatalf("Makefile does not set %s", name)
	return ""
}

// The version stamp: the Dockerfile's build arguments are the Makefile's variables.
var stampArgs = strings.NewReplacer("${VERSION}", "$(VERSION)", "${REVISION}", "$(REVISION)", "${BUILD_DATE}", "$(BUILD_DATE)")

const wantStamp = "-X main.version=$(VERSION) -X main.revision=$(REVISION) -X main.buildDate=$(BUILD_DATE)"

func makefileBuild(t *testing.T) goBuild {
	t.Helper()
	var builds []string
	stamp := makeVariable(t, "VERSION_LDFLAGS")
	for _, line := range makeRecipe(t, "image-build-check") {
		if strings.Contains(line, "$(GO) build") {
			line = strings.ReplaceAll(line, "$(VERSION_LDFLAGS)", stamp)
			builds = append(builds, strings.ReplaceAll(line, "$(GO)", "go"))
		}
	}
	if len(builds) != 1 {
		t.Fatalf("want one $(GO) build line in make image-build-check, got %q", builds)
	}
	return parseGoBuild(t, shellWords(t, builds[0]))
}

func TestDockerfileAndImageBuildCheckBuildAlike(t *testing.T) {
	docker, mk := dockerfileBuild(t), makefileBuild(t)
	if !slices.Equal(docker.env, []string{"CGO_ENABLED=0"}) || !slices.Equal(mk.env, docker.env) {
		t.Errorf("environment: Dockerfile %q, Makefile %q; want CGO_ENABLED=0 in both", docker.env, mk.env)
	}
	dockerFlags := make([]string, len(docker.flags))
	for i, f := range docker.flags {
		dockerFlags[i] = stampArgs.Replace(f)
	}
	if !slices.Equal(mk.flags, dockerFlags) {
		t.Errorf("go build flags: Dockerfile %q, Makefile %q", dockerFlags, mk.flags)
	}
	if want := []string{"-trimpath", "-ldflags=-s -w " + wantStamp}; !slices.Equal(dockerFlags, want) {
		t.Errorf("Dockerfile go build flags %q, want %q", dockerFlags, want)
	}
	if got := makeVariable(t, "VERSION_LDFLAGS"); got != wantStamp {
		t.Errorf("Makefile VERSION_LDFLAGS = %q, want %q", got, wantStamp)
	}
	if docker.pkg != "./cmd/consul-peering-guard" || mk.pkg != docker.pkg {
		t.Errorf("package: Dockerfile %q, Makefile %q", docker.pkg, mk.pkg)
	}
	if !strings.HasPrefix(mk.output, "$(BIN)/image/") {
		t.Errorf("make image-build-check writes %q, want bin/image/", mk.output)
	}
	// The runtime stage copies what the builder wrote and runs it as the chart's user.
	ins := dockerfile(t)
	for _, want := range []string{
		"FROM golang:1.26 AS builder",
		"COPY go.mod go.sum ./",
		"RUN go mod download",
		"ARG VERSION=dev",
		"ARG REVISION=unknown",
		"ARG BUILD_DATE=unknown",
		"FROM gcr.io/distroless/static:nonroot",
		"COPY --from=builder " + docker.output + " /consul-peering-guard",
		"USER 65532:65532",
		`ENTRYPOINT ["/consul-peering-guard"]`,
		`CMD ["serve"]`,
	} {
		if !slices.Contains(ins, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	d := one[*appsv1.Deployment](t, decode(t, render(t, "")))
	if u := d.Spec.Template.Spec.SecurityContext.RunAsUser; u == nil || *u != 65532 {
		t.Errorf("the chart runs the pods as %v, the image as 65532", u)
	}
	if args := d.Spec.Template.Spec.Containers[0].Args; len(args) == 0 || args[0] != "serve" {
		t.Errorf("the chart's args replace the image's CMD [serve] and must start with serve: %q", args)
	}
	if ignore, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore")); err != nil {
		t.Error(err)
	} else {
		for _, want := range []string{"bin/", ".git", "tmp"} {
			if !slices.Contains(strings.Fields(string(ignore)), want) {
				t.Errorf(".dockerignore lacks %s", want)
			}
		}
	}
}

// imageBuildArgs are the --build-arg values the image test builds with.
var imageBuildArgs = strings.NewReplacer("${VERSION}", "v9.8.7-test", "${REVISION}", "feedface", "${BUILD_DATE}", "2026-11-25T00:00:00Z")

var imageBinary struct {
	once sync.Once
	path string
	err  string
}

// buildAsImage runs the Dockerfile's build step, with its flags, into a temporary folder.
func buildAsImage(t *testing.T) string {
	t.Helper()
	imageBinary.once.Do(func() {
		imageBinary.err = "the image build did not finish" // until it does
		b := dockerfileBuild(t)
		dir, err := os.MkdirTemp("", "cpg-image-")
		if err != nil {
			imageBinary.err = err.Error()
			return
		}
		out := filepath.Join(dir, "consul-peering-guard")
		flags := make([]string, len(b.flags))
		for i, f := range b.flags {
			flags[i] = imageBuildArgs.Replace(f)
		}
		args := slices.Concat([]string{"build"}, flags, []string{"-o", out, b.pkg})
		if r := run(t, b.env, "go", args...); r.code != 0 {
			imageBinary.err = "go " + strings.Join(args, " ") + ": " + r.String()
			return
		}
		imageBinary.path, imageBinary.err = out, ""
	})
	if imageBinary.err != "" {
		t.Fatal(imageBinary.err)
	}
	return imageBinary.path
}

func TestImageBuildIsStaticAndRuns(t *testing.T) {
	bin := buildAsImage(t)
	info := run(t, nil, "go", "version", "-m", bin)
	if info.code != 0 {
		t.Fatalf("go version -m: %s", info)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath=true"} {
		if !strings.Contains(info.stdout, want) {
			t.Errorf("build settings lack %s:\n%s", want, info.stdout)
		}
	}
	// Go leaves -ldflags out of the build settings under -trimpath; read the ELF instead:
	// no interpreter and no dynamic section (static), no symbol table (-s).
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (%s program header)", p.Type)
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: built without -ldflags=-s")
	}
	v := run(t, nil, bin, "version", "-o", "json")
	var stamped struct{ Version, Revision, BuildDate string }
	if err := json.Unmarshal([]byte(v.stdout), &stamped); v.code != 0 || err != nil {
		t.Fatalf("version -o json: %v %s", err, v)
	}
	if stamped.Version != "v9.8.7-test" || stamped.Revision != "feedface" || stamped.BuildDate != "2026-11-25T00:00:00Z" {
		t.Errorf("the build arguments were not stamped: %+v", stamped)
	}
	r := run(t, nil, bin, "rules")
	if r.code != 0 {
		t.Fatalf("consul-peering-guard rules: %s", r)
	}
	for _, rule := range validators.Catalogue() {
		if !strings.Contains(r.stdout, rule.Name) {
			t.Errorf("rules does not list %s", rule.Name)
		}
	}
}

// The serve flags the chart renders must be flags the binary accepts: serve parses every
// flag and checks the rule settings, the partition and the selector before it looks for a
// cluster, so a missing kubeconfig is the first and only complaint. The webhook configuration
// the chart mounts is checked too (--webhook-configuration), from the rendered ConfigMap.
func TestChartArgsAreAcceptedByServe(t *testing.T) {
	bin := buildAsImage(t)
	missing := filepath.Join(t.TempDir(), "missing-kubeconfig")
	for _, tc := range chartCases {
		t.Run(tc.file, func(t *testing.T) {
			objs := decode(t, render(t, tc.file))
			d := one[*appsv1.Deployment](t, objs)
			args := append(slices.Clone(d.Spec.Template.Spec.Containers[0].Args), "--kubeconfig="+missing)
			i := slices.IndexFunc(args, func(a string) bool { return strings.HasPrefix(a, "--webhook-configuration=") })
			if i < 0 {
				t.Fatalf("the chart does not pass --webhook-configuration: %q", args)
			}
			file := filepath.Join(t.TempDir(), webhookConfigurationKey)
			for _, cm := range only[*corev1.ConfigMap](objs) {
				if data, ok := cm.Data[webhookConfigurationKey]; ok {
					if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			args[i] = "--webhook-configuration=" + file
			r := run(t, nil, bin, args...)
			if r.code != 2 || !strings.Contains(r.stderr, "error: --kubeconfig "+missing) {
				t.Fatalf("serve %q did not get as far as the kubeconfig: %s", args, r)
			}
			if bytes.Count([]byte(r.stderr), []byte("error:")) != 1 {
				t.Fatalf("more than one error: %s", r)
			}
		})
	}
}
