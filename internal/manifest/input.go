package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultMaxInputBytes bounds, by default, all the input one command reads: every file, stdin
// and every file a kustomization reads. Decoding costs several times the input in memory, so
// the bound keeps a run on a CI runner within a few GiB.
const DefaultMaxInputBytes int64 = 256 << 20

var (
	// ErrInputTooLarge is the error of the file whose bytes took the input past its bound.
	ErrInputTooLarge = errors.New("the input is larger than the bound on all files together")
	// ErrNotRegularFile is the error of a named pipe, socket or device given as a manifest:
	// reading one may never end.
	ErrNotRegularFile = errors.New("not a regular file (a named pipe, socket or device); only files are read, and - reads stdin")
)

// input reads manifests and charges their bytes to one bound: of bound bytes, left are not
// read yet.
type input struct {
	opts        Options
	bound, left int64
}

func newInput(opts Options) *input {
	bound := opts.MaxInputBytes
	if bound <= 0 {
		bound = DefaultMaxInputBytes
	}
	return &input{opts: opts, bound: bound, left: bound}
}

// readAll reads r, named name in errors, up to perFile bytes, and charges what it read.
func (in *input) readAll(r io.Reader, name string, perFile int64) ([]byte, error) {
	limit := min(perFile, in.left)
	raw, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, &Error{Source: Source{File: name}, Err: err}
	}
	switch {
	case int64(len(raw)) > perFile:
		return nil, &Error{Source: Source{File: name}, Err: fmt.Errorf("file is larger than %d bytes", perFile)}
	case int64(len(raw)) > in.left:
		return nil, &Error{Source: Source{File: name}, Err: fmt.Errorf("%w (%d bytes, set by --max-input-bytes): this file takes it past the bound; raise the bound or validate fewer files at once",
			ErrInputTooLarge, in.bound)}
	}
	in.left -= int64(len(raw))
	return raw, nil
}

// readRegularFile reads a file that is a regular file (a symlink to one counts), charging
// its bytes; a named pipe is refused before it is opened, since opening one waits for a writer.
func (in *input) readRegularFile(path string, perFile int64) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return in.readAll(f, path, perFile)
}

// openRegular opens path if it is a regular file, and checks that what was opened is the
// file that was looked at.
func openRegular(path string) (*os.File, error) {
	before, err := os.Stat(path)
	if err != nil {
		return nil, &Error{Source: Source{File: path}, Err: unwrapPathError(err)}
	}
	if !before.Mode().IsRegular() {
		return nil, &Error{Source: Source{File: path}, Err: ErrNotRegularFile}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Source: Source{File: path}, Err: unwrapPathError(err)}
	}
	after, err := f.Stat()
	if err != nil || !after.Mode().IsRegular() || !os.SameFile(before, after) {
		_ = f.Close()
		return nil, &Error{Source: Source{File: path}, Err: ErrNotRegularFile}
	}
	return f, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// walkEntry decides whether a file found by walking root is read: a regular file is; a
// symlink is read only when it resolves to a regular file inside root (a file outside is read
// only when named on the command line); anything else is skipped with the reason.
func walkEntry(root, path string, d fs.DirEntry) (read bool, skipReason string) {
	switch {
	case d.Type().IsRegular():
		return true, ""
	case d.Type()&fs.ModeSymlink == 0:
		return false, "not a regular file (a named pipe, socket or device): not read"
	}
	target, err := realPath(path)
	if err != nil {
		return false, "symlink whose target cannot be resolved: not read"
	}
	realRoot, err := realPath(root)
	if err != nil {
		return false, "symlink whose folder cannot be resolved: not read"
	}
	if !within(realRoot, target) {
		return false, "symlink to a file outside " + root + ": not read (name it with -f to read it)"
	}
	info, err := os.Stat(target)
	if err != nil || !info.Mode().IsRegular() {
		return false, "symlink to something that is not a regular file: not read"
	}
	return true, ""
}

// realPath is the absolute path of a file with every symlink resolved.
func realPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// within reports whether path is dir or below it; both are absolute, or both relative.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
