package manifest

import (
	"reflect"
	"strconv"
	"strings"
)

// caseSuggestion returns the field defined beside the unknown field at path whose name differs
// from it only in case ("peer" for spec.upstreamConfig.overrides[0].Peer), or "".
func caseSuggestion(root reflect.Type, path string) string {
	parent, name := "", path
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		parent, name = path[:i], path[i+1:]
	}
	t, ok := typeAt(root, parent)
	if !ok {
		return ""
	}
	for known := range jsonFields(t) {
		if known != name && strings.EqualFold(known, name) {
			return known
		}
	}
	return ""
}

// typeAt follows a field path such as spec.upstreamConfig.overrides[0] through Go types by
// their JSON names; it reports false when the path leaves the types (a key with a dot in it,
// a free-form value).
func typeAt(t reflect.Type, path string) (reflect.Type, bool) {
	t = deref(t)
	if path == "" {
		return t, t.Kind() == reflect.Struct
	}
	for _, seg := range strings.Split(path, ".") {
		name, indexes, ok := splitIndexes(seg)
		if !ok {
			return nil, false
		}
		switch t.Kind() {
		case reflect.Struct:
			ft, found := jsonFields(t)[name]
			if !found {
				return nil, false
			}
			t = deref(ft)
		case reflect.Map:
			t = deref(t.Elem())
		default:
			return nil, false
		}
		for range indexes {
			if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
				return nil, false
			}
			t = deref(t.Elem())
		}
	}
	return t, t.Kind() == reflect.Struct
}

// splitIndexes splits "overrides[0][1]" into "overrides" and its two list indexes.
func splitIndexes(seg string) (string, []int, bool) {
	name, rest, _ := strings.Cut(seg, "[")
	if rest == "" {
		return name, nil, true
	}
	var indexes []int
	for _, part := range strings.Split("["+rest, "[")[1:] {
		n, err := strconv.Atoi(strings.TrimSuffix(part, "]"))
		if err != nil || !strings.HasSuffix(part, "]") {
			return "", nil, false
		}
		indexes = append(indexes, n)
	}
	return name, indexes, true
}

// jsonFields maps the JSON names of a struct's fields, inlined embedded structs included, to
// their types, as encoding/json names them.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && deref(f.Type).Kind() == reflect.Struct {
			for k, v := range jsonFields(deref(f.Type)) {
				if _, shadowed := out[k]; !shadowed {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
