package validators

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Every bound the engine puts on what one review costs and what one answer says (the
// generated policies' list bound, DefaultPolicyMaxListItems, is the CEL side's). Kubernetes
// lets an object reach megabytes and an annotation 256 KiB; no real object comes near these,
// and a hostile one gets a bounded answer.
const (
	// MaxWarningLength is the longest admission warning we emit, rule name included: kubectl
	// prints a warning this long whole.
	MaxWarningLength = 256
	// MaxWarnings is how many warnings one response carries; the last one says how many more
	// there were, so an object with thousands of findings does not flood kubectl.
	MaxWarnings = 20
	// MaxViolationsPerRule bounds what one rule reports about one object per action; the
	// rest are counted in one more violation.
	MaxViolationsPerRule = 100
	// MaxAnnotationEntries is how many entries of the upstreams annotation are checked; the
	// entry after it carries a syntax problem saying the rest were not.
	MaxAnnotationEntries = 1000
	// MaxAnnotationEntryLength is the longest entry that is parsed, in bytes: six labels of
	// 63 characters, a port and every option fit several times over.
	MaxAnnotationEntryLength = 1024

	// minPathRoom is the least of a field path a warning keeps: its last steps.
	minPathRoom = 32
	// quoteRunes is how much of a value a message quotes, and maxQuotedBytes how long the
	// quote may be once escaped (an invalid byte is escaped to four).
	quoteRunes     = 64
	maxQuotedBytes = 2 * quoteRunes
	// maxConfigFindings bounds what one proxy-config rule reports about one config, so that
	// a config with thousands of bad entries costs a bounded answer; the last finding says
	// how many more.
	maxConfigFindings = 50
	// maxSuggestKeyLen bounds the edit-distance work per proxy-config key: a longer key is
	// no typo.
	maxSuggestKeyLen = 64
)

// warningValueRunes are the lengths a warning tries for the value it quotes, longest first.
var warningValueRunes = []int{quoteRunes, 32, 16}

// quoteShort quotes s as messages show a value: escaped, cut to quoteRunes, and cut further
// while the escaped quote is longer than maxQuotedBytes.
func quoteShort(s string) string {
	for n := quoteRunes; ; n /= 2 {
		if q := strconv.Quote(clip(s, n)); len(q) <= maxQuotedBytes || n <= 1 {
			return q
		}
	}
}

// clip cuts s to at most n runes (n bytes of invalid UTF-8), marking the cut with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i, runes := 0, 0
	for i < len(s) && runes < n-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		runes++
	}
	if i >= len(s) {
		return s
	}
	return s[:i] + "…"
}

// shortenPath keeps the end of a field path within room bytes, cut at a step and marked
// with "…".
func shortenPath(path string, room int) string {
	if len(path) <= room {
		return path
	}
	tail := path[len(path)-(room-len("…")):]
	if i := strings.IndexByte(tail, '.'); i >= 0 && i < len(tail)-1 {
		tail = tail[i:]
	}
	for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
		tail = tail[1:]
	}
	return "…" + tail
}

// findings collects one rule's errors up to maxConfigFindings and counts the rest.
type findings struct {
	errs field.ErrorList
	more int
}

// full reports whether further errors will only be counted, so callers can skip the work
// of describing them.
func (f *findings) full() bool { return len(f.errs) >= maxConfigFindings }

func (f *findings) add(errs ...*field.Error) {
	for _, fe := range errs {
		if f.full() {
			f.more++
			continue
		}
		f.errs = append(f.errs, fe)
	}
}

// list returns the errors; past the bound, the last one sums up the rest.
func (f *findings) list() field.ErrorList {
	if f.more == 0 {
		return f.errs
	}
	return append(f.errs[:maxConfigFindings-1], field.Invalid(configPath, field.OmitValueType{},
		fmt.Sprintf("%d more findings like the ones above; fix those first", f.more+1)))
}
