package validators

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

const webhookOnlyProxyConfig = "spec.config is schemaless and Consul decodes it weakly typed (numbers from strings, " +
	"aliases that shadow each other, JSON inside strings); Kubernetes CEL cannot parse JSON strings, and a second " +
	"decoder written in CEL would drift from the Go one"

// checkProxyConfigDecodes: every key Consul reads decodes, and enumerated values are in
// their set. Consul logs a value it cannot decode and builds Envoy's configuration without
// it (and without its own defaults); the bootstrap refuses to start Envoy at all.
func checkProxyConfigDecodes(in *ObjectInput) field.ErrorList {
	c := decodeProxyConfig(in)
	if c == nil {
		return nil
	}
	if c.err != nil {
		return field.ErrorList{c.err}
	}
	var f findings
	for _, key := range c.keys {
		k := lookupProxyConfigKey(key)
		if k == nil || k.escapeHatch() || c.shadowed(key, k) {
			continue
		}
		f.add(decodeValue(configKeyPath(configPath, key), key, k, c.values[key])...)
	}
	return f.list()
}

// checkProxyConfigEscapeHatchJSON: every escape hatch is a string holding the JSON (or
// template) Envoy is given.
func checkProxyConfigEscapeHatchJSON(in *ObjectInput) field.ErrorList {
	c := decodeProxyConfig(in)
	if c == nil || c.err != nil {
		return nil
	}
	var f findings
	for _, key := range c.keys {
		k := lookupProxyConfigKey(key)
		if k == nil || !k.escapeHatch() || c.shadowed(key, k) {
			continue
		}
		if fe := checkEscapeHatch(configKeyPath(configPath, key), k, c.values[key]); fe != nil {
			f.add(in.identify(fe, c.values[key]))
		}
	}
	return f.list()
}

// checkProxyConfigUnknownKey: every key is one Consul reads, and not one it ignores
// because another spelling of it is set.
func checkProxyConfigUnknownKey(in *ObjectInput) field.ErrorList {
	c := decodeProxyConfig(in)
	if c == nil || c.err != nil {
		return nil
	}
	var f findings
	for _, key := range c.keys {
		k := lookupProxyConfigKey(key)
		switch {
		case k != nil && !c.shadowed(key, k):
			continue
		case f.full():
			f.more++ // counted only: the suggestion is the costly part
		case k == nil:
			f.add(field.Invalid(configKeyPath(configPath, key), key, unknownKeyDetail(key)))
		default:
			f.add(field.Invalid(configKeyPath(configPath, key), key,
				fmt.Sprintf("ignored: Consul reads %s, which is also set; remove one", k.canonical())))
		}
	}
	return f.list()
}

// unknownKeyDetail says where a key Consul does not read here belongs, or which known key
// it is closest to.
func unknownKeyDetail(key string) string {
	lower := strings.ToLower(key)
	if where, ok := misplacedProxyConfigSettings[lower]; ok {
		return where + "; Consul ignores it here"
	}
	if s := nearestProxyConfigKey(lower); s != "" {
		return "did you mean " + s + "? Consul ignores keys it does not read"
	}
	return "Consul's Envoy integration does not read this key and ignores it"
}

// nearestProxyConfigKey returns the known key (never a deprecated alias) closest to key by
// edit distance, when it is close enough to be a typo: at most a third of the key's length,
// and at least 2 edits allowed.
func nearestProxyConfigKey(key string) string {
	if len(key) > maxSuggestKeyLen {
		return ""
	}
	limit := max(len(key)/3, 2)
	best, bestDist := "", limit+1
	for i := range proxyConfigKeys {
		k := &proxyConfigKeys[i]
		if k.AliasOf != "" {
			continue
		}
		if d := editDistance(key, k.Name); d < bestDist {
			best, bestDist = k.Name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
