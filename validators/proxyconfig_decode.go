package validators

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// This file judges a proxy config value the way Consul's decoder does: mapstructure with
// WeaklyTypedInput on the values JSON decodes to (nil, bool, float64, string, []any,
// map[string]any). The weak rules, from mapstructure's documentation and decoder:
//   - to a string: strings; booleans become "1" or "0"; numbers their decimal form;
//   - to an integer: numbers (fractions truncated); booleans 1 or 0; strings that
//     strconv.ParseInt (base 0, so "0x10" and "1_000" too) reads, "" as 0;
//   - to an unsigned integer: the same with strconv.ParseUint in the target's bits;
//   - to a bool: booleans; numbers (non-zero is true); strings strconv.ParseBool reads
//     (1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False) and "";
//   - to a list: lists; any other single value becomes a list of one; an empty map an
//     empty list;
//   - to a map: maps; a list is read as its elements merged, each a map;
//   - null leaves the field at its default.
// Consul's xDS decoders add a hook that reads a one-element list as its element.

// spec.config's path, and the path of one of its keys.
var configPath = specPath.Child("config")

// configKeyPath renders a key as a field name (spec.config.protocol) when it is one, and in
// brackets (spec.config[a.b]) when dots or other characters would make the path ambiguous.
func configKeyPath(base *field.Path, key string) *field.Path {
	if key == "" {
		return base.Key(key)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return base.Key(key)
		}
	}
	return base.Child(key)
}

// proxyConfig is a decoded spec.config: the object, its keys in order, or why it is none.
type proxyConfig struct {
	values map[string]any
	keys   []string
	err    *field.Error
}

// decodeProxyConfig decodes the ProxyDefaults of in, if it is one with a config, once per
// input: three rules read it.
func decodeProxyConfig(in *ObjectInput) *proxyConfig {
	if !in.proxyConfigRead {
		in.proxyConfig, in.proxyConfigRead = readProxyConfig(in), true
	}
	return in.proxyConfig
}

func readProxyConfig(in *ObjectInput) *proxyConfig {
	pd, ok := in.Object.(*v1alpha1.ProxyDefaults)
	if !ok {
		return nil
	}
	raw := bytes.TrimSpace(pd.Spec.Config)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return &proxyConfig{err: in.identify(field.Invalid(configPath, field.OmitValueType{}, "not valid JSON: "+err.Error()), string(raw))}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return &proxyConfig{err: in.identify(field.Invalid(configPath, field.OmitValueType{},
			"want an object of key: value, not "+jsonKind(v)+"; Consul cannot read any of it"), string(raw))}
	}
	return &proxyConfig{values: m, keys: slices.Sorted(maps.Keys(m))}
}

// shadowed reports whether Consul ignores key, known as k, because the exact name it
// stands for is set too: mapstructure prefers an exact match to a case-insensitive one,
// and Consul drops a deprecated alias when the key it renames to is present.
func (c *proxyConfig) shadowed(key string, k *proxyConfigKey) bool {
	if key == k.canonical() {
		return false
	}
	_, set := c.values[k.canonical()]
	return set
}

// jsonKind names the JSON type of a decoded value for messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// shownValue is the value an error carries: scalars as they are, objects and lists left
// out (they can be large, and the message says what they are).
func shownValue(v any) any {
	switch v.(type) {
	case []any, map[string]any:
		return field.OmitValueType{}
	}
	return v
}

// unwrapOne applies the xDS decoders' hook: a one-element list stands for its element.
func unwrapOne(r configReader, v any) any {
	if l, ok := v.([]any); ok && len(l) == 1 && r == readerXDS {
		return l[0]
	}
	return v
}

// weakString is the string mapstructure makes of v, or false when it makes none.
func weakString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case bool:
		if x {
			return "1", true
		}
		return "0", true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// weakInt is the integer mapstructure makes of v for a target of the given bits, or an
// explanation of why it makes none; for an unsigned target only the explanation counts.
func weakInt(v any, unsigned bool, bits int) (int64, string) {
	switch x := v.(type) {
	case nil:
		return 0, ""
	case bool:
		if x {
			return 1, ""
		}
		return 0, ""
	case float64:
		return int64(x), ""
	case string:
		if x == "" {
			return 0, ""
		}
		if unsigned {
			_, err := strconv.ParseUint(x, 0, bits)
			return 0, parseProblem(err)
		}
		n, err := strconv.ParseInt(x, 0, bits)
		return n, parseProblem(err)
	}
	return 0, jsonKind(v) + ", not a number"
}

func parseProblem(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, strconv.ErrRange):
		return "out of range"
	}
	return "not a whole number"
}

// wholeNumberHint says how to write a number for key.
func wholeNumberHint(key string) string {
	switch {
	case strings.HasSuffix(strings.ToLower(key), "_ms"):
		return "write a whole number of milliseconds, such as 5000"
	case strings.HasSuffix(strings.ToLower(key), "_kb"):
		return "write a whole number of kilobytes, such as 96"
	}
	return "write a whole number"
}

// decodeValue checks one value against its key's type as Consul's decoder would; escape
// hatches are proxy-config-escape-hatch-json's and are not checked here.
func decodeValue(p *field.Path, key string, k *proxyConfigKey, v any) field.ErrorList {
	if k.Type != cfgStringList {
		v = unwrapOne(k.Reader, v)
	}
	switch k.Type {
	case cfgString:
		s, ok := weakString(v)
		if !ok {
			return field.ErrorList{field.Invalid(p, shownValue(v), "want a string, not "+jsonKind(v))}
		}
		return checkAllowed(p, k, v, s)
	case cfgInt, cfgUint32:
		unsigned, bits := k.Type == cfgUint32, 64
		if unsigned {
			bits = 32
		}
		if _, why := weakInt(v, unsigned, bits); why != "" {
			return field.ErrorList{field.Invalid(p, shownValue(v), why+": "+wholeNumberHint(key))}
		}
	case cfgBool:
		if s, ok := v.(string); ok && s != "" {
			if _, err := strconv.ParseBool(s); err != nil {
				return field.ErrorList{field.Invalid(p, v, "not a boolean: write true or false")}
			}
		} else if _, isList := v.([]any); isList || isMap(v) {
			return field.ErrorList{field.Invalid(p, shownValue(v), "want true or false, not "+jsonKind(v))}
		}
	case cfgStringList:
		return decodeStringList(p, v)
	case cfgBindAddresses:
		return decodeBindAddresses(p, k.Reader, v)
	}
	return nil
}

func isMap(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// checkAllowed holds a decoded string to its key's enumeration.
func checkAllowed(p *field.Path, k *proxyConfigKey, v any, s string) field.ErrorList {
	if len(k.Allowed) == 0 || s == "" {
		return nil
	}
	for _, a := range k.Allowed {
		if s == a || k.FoldCase && strings.EqualFold(s, a) {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(p, v, k.Allowed)}
}

func decodeStringList(p *field.Path, v any) field.ErrorList {
	switch x := v.(type) {
	case []any:
		var errs field.ErrorList
		for i, e := range x {
			if _, ok := weakString(e); !ok {
				errs = append(errs, field.Invalid(p.Index(i), shownValue(e), "want a string, not "+jsonKind(e)))
			}
		}
		return errs
	case map[string]any:
		if len(x) > 0 {
			return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "want a list of strings, not an object")}
		}
	}
	return nil
}

// decodeBindAddresses checks envoy_gateway_bind_addresses: a map from a listener name to
// {address, port}. Consul's decoder takes an entry without address or port as empty ones,
// which gives Envoy a listener it cannot bind; that is refused here too.
func decodeBindAddresses(p *field.Path, r configReader, v any) field.ErrorList {
	const want = "want a map of name: {address, port}, not "
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		var errs field.ErrorList
		for _, n := range slices.Sorted(maps.Keys(x)) {
			errs = append(errs, decodeBindAddress(configKeyPath(p, n), r, x[n])...)
		}
		return errs
	case []any:
		// The weak decoder merges the elements of a list, each a map, into one map.
		var errs field.ErrorList
		for i, e := range x {
			e = unwrapOne(r, e)
			if !isMap(e) {
				errs = append(errs, field.Invalid(p.Index(i), shownValue(e), want+jsonKind(e)))
				continue
			}
			errs = append(errs, decodeBindAddresses(p.Index(i), r, e)...)
		}
		return errs
	}
	return field.ErrorList{field.Invalid(p, shownValue(v), want+jsonKind(v))}
}

func decodeBindAddress(p *field.Path, r configReader, v any) field.ErrorList {
	v = unwrapOne(r, v)
	m, ok := v.(map[string]any)
	if !ok {
		return field.ErrorList{field.Invalid(p, shownValue(v), "want {address, port}, not "+jsonKind(v))}
	}
	var errs field.ErrorList
	addrKey, addr, hasAddr := foldLookup(m, "address")
	switch s, ok := weakString(unwrapOne(r, addr)); {
	case !hasAddr || addr == nil || ok && s == "":
		errs = append(errs, field.Required(p.Child("address"), "the IP address Envoy listens on, such as 0.0.0.0"))
	case !ok:
		errs = append(errs, field.Invalid(configKeyPath(p, addrKey), shownValue(addr), "want an IP address, not "+jsonKind(addr)))
	}
	portKey, port, hasPort := foldLookup(m, "port")
	if !hasPort || port == nil {
		return append(errs, field.Required(p.Child("port"), "the port Envoy listens on, 1 to 65535"))
	}
	port = unwrapOne(r, port)
	n, why := weakInt(port, false, 64)
	switch {
	case why != "":
		errs = append(errs, field.Invalid(configKeyPath(p, portKey), shownValue(port), why+": write a port number, 1 to 65535"))
	case n < 1 || n > 65535:
		errs = append(errs, field.Invalid(configKeyPath(p, portKey), port, "write a port number, 1 to 65535"))
	}
	return errs
}

// foldLookup finds a struct field's value as mapstructure does: the field's name exactly
// (Consul's ServiceAddress has no tags, so "Address"), then any key equal ignoring case.
func foldLookup(m map[string]any, name string) (string, any, bool) {
	exact := strings.ToUpper(name[:1]) + name[1:]
	if v, ok := m[exact]; ok {
		return exact, v, true
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if strings.EqualFold(k, name) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", nil, false
	}
	sort.Strings(keys)
	return keys[0], m[keys[0]], true
}

// checkEscapeHatch checks an escape hatch: a string holding what Consul gives Envoy as it
// is, one JSON object, JSON objects separated by commas (Consul puts them into a list
// itself), or a Go template of the bootstrap.
func checkEscapeHatch(p *field.Path, k *proxyConfigKey, v any) *field.Error {
	v = unwrapOne(k.Reader, v)
	s, isString := v.(string)
	switch {
	case v == nil:
		return nil
	case !isString && (isMap(v) || isList(v)):
		return field.Invalid(p, field.OmitValueType{}, "want a string holding JSON, not "+jsonKind(v)+
			": write the JSON as a YAML block (key: |) or a quoted string")
	case !isString:
		return field.Invalid(p, v, "want a string holding JSON, not "+jsonKind(v))
	case s == "":
		return nil
	case strings.TrimSpace(s) == "":
		return field.Invalid(p, s, "blank: remove the key or give the JSON")
	}
	switch k.Type {
	case cfgTemplate:
		if _, err := template.New(k.Name).Parse(s); err != nil {
			return field.Invalid(p, field.OmitValueType{}, "not a Go template: "+strings.TrimPrefix(err.Error(), "template: "))
		}
	case cfgJSONObject:
		if err := validJSON([]byte(s), 0, len(s)); err != "" {
			return field.Invalid(p, field.OmitValueType{}, err)
		}
		if c := firstByte(s); c != '{' {
			detail := "want one JSON object {...}, not " + jsonTokenKind(c)
			if c == '[' {
				detail += ": Consul takes a single object here"
			}
			return field.Invalid(p, field.OmitValueType{}, detail)
		}
	case cfgJSONObjects:
		list := "[" + s + "]"
		if err := validJSON([]byte(list), 1, len(s)); err != "" {
			return field.Invalid(p, field.OmitValueType{}, err+" (objects separated by commas)")
		}
		var elems []json.RawMessage
		if err := json.Unmarshal([]byte(list), &elems); err != nil || len(elems) == 0 {
			return field.Invalid(p, field.OmitValueType{}, "want JSON objects separated by commas")
		}
		for i, e := range elems {
			if c := firstByte(string(e)); c != '{' {
				detail := fmt.Sprintf("element %d is %s, want JSON objects {...} separated by commas", i, jsonTokenKind(c))
				if c == '[' {
					detail += ", without [ ] around them: Consul adds the list"
				}
				return field.Invalid(p, field.OmitValueType{}, detail)
			}
		}
	}
	return nil
}

func isList(v any) bool {
	_, ok := v.([]any)
	return ok
}

// validJSON returns why b is not JSON, naming the byte of the user's string where the
// parser gave up (shift bytes were added in front of the userLen bytes of it), or "".
func validJSON(b []byte, shift, userLen int) string {
	if json.Valid(b) {
		return ""
	}
	var raw json.RawMessage
	err := json.Unmarshal(b, &raw)
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		at := syn.Offset - int64(shift)
		if at > int64(userLen) || strings.HasPrefix(syn.Error(), "unexpected end") {
			return "not valid JSON: it ends too early (a missing } or ], or a trailing comma)"
		}
		return fmt.Sprintf("not valid JSON at byte %d: %s", max(at, 1), syn.Error())
	}
	if err != nil {
		return "not valid JSON: " + err.Error()
	}
	return "not valid JSON"
}

func firstByte(s string) byte {
	s = strings.TrimLeft(s, " \t\r\n")
	if s == "" {
		return 0
	}
	return s[0]
}

func jsonTokenKind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
