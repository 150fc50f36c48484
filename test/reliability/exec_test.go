package reliability

import osexec "os/exec"

func exec(bin string, args ...string) (string, error) {
	out, err := osexec.Command(bin, args...).CombinedOutput()
	return string(out), err
}
