package v1alpha1

import (
	"encoding/json"
	"errors"
	"fmt"
)

// NameTypeError rewrites a JSON type mismatch met while decoding an object of these types
// (or a review carrying one) so that it names the field, as kubectl users expect; any other
// error is returned as it is.
func NameTypeError(err error) error {
	if named, ok := typeError(err); ok {
		return named
	}
	return err
}

// IsTypeError reports whether err is a JSON type mismatch, which NameTypeError names.
func IsTypeError(err error) bool {
	_, ok := typeError(err)
	return ok
}

func typeError(err error) (error, bool) {
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		return nil, false
	}
	return fmt.Errorf("field %s: cannot use a JSON %s as %s", typeErr.Field, typeErr.Value, typeErr.Type), true
}
