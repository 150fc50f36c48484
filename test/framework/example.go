package framework

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// ExampleFileName is the file in a folder of examples/ that says what the example must show:
// the denials it produces and how to fix its mistake. The folder's cluster file holds only
// what a user's would. Having no manifest extension, the file is read neither by validate nor
// by kubectl apply -f.
const ExampleFileName = ".example"

// Example is the content of an example file.
type Example struct {
	// Fix says how to repair the mistake the folder shows; the demo prints it.
	Fix string `json:"fix,omitempty"`
	// Expect lists the denials the folder must produce; the example tests read it.
	Expect []Expectation `json:"expect,omitempty"`
}

// Expectation is one denial an example folder documents.
type Expectation struct {
	Rule  string `json:"rule"`
	Field string `json:"field"`
}

// ReadExample reads the example file of a folder strictly, so a misspelt key is reported. A
// folder without one documents no denial and no fix.
func ReadExample(dir string) (Example, error) {
	var e Example
	path := filepath.Join(dir, ExampleFileName)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return e, nil
	}
	if err != nil {
		return e, err
	}
	if err := yaml.UnmarshalStrict(raw, &e); err != nil {
		return e, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}
