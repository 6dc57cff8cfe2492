package config

import (
	"reflect"
	"strings"
)

// field is one YAML-visible field of a struct type.
type field struct {
	key   string // YAML key
	index int    // index in the struct
	typ   reflect.Type
}

var secretType = reflect.TypeFor[Secret]()

// yamlFields lists the fields of struct type t as yaml.v3 sees them: the
// key is the yaml tag's name, or the lower-cased field name when the tag
// has none. Unexported fields and fields tagged "-" are left out.
func yamlFields(t reflect.Type) []field {
	fields := make([]field, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields = append(fields, field{key: name, index: i, typ: f.Type})
	}
	return fields
}

// lookupField returns the field of fields with the given key.
func lookupField(fields []field, key string) (field, bool) {
	for _, f := range fields {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

// isScalar reports whether values of t are written as one YAML scalar
// (strings, numbers, booleans, Duration, Secret).
func isScalar(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// isSecretField reports whether a field of type t may be given as
// "<key>_file": a Secret or a list of Secrets.
func isSecretField(t reflect.Type) bool {
	return t == secretType || (t.Kind() == reflect.Slice && t.Elem() == secretType)
}
