package manifest

import (
	"bytes"
	"fmt"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// KustomizeSource names the output of a kustomization in reports and errors.
func KustomizeSource(dir string) string { return "kustomize build " + dir }

// ReadKustomization renders the kustomization in dir, as `kubectl apply -k` and `kustomize
// build` do with their defaults (files only from inside dir, no plugins, no Helm), and reads
// the result into set. A kustomization that does not build is an error carrying kustomize's
// message.
func ReadKustomization(dir string, opts Options, set *Set) error {
	name := KustomizeSource(dir)
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return &Error{Source: Source{File: name}, Err: err}
	}
	out, err := resources.AsYaml()
	if err != nil {
		return &Error{Source: Source{File: name}, Err: fmt.Errorf("rendering the output: %w", err)}
	}
	return Read(bytes.NewReader(out), name, opts, set)
}
