package config

import (
	"reflect"

	"go.yaml.in/yaml/v3"
)

// newElement returns a new element for a list of type t: the element's
// default for types that have one (Route: DefaultRoute), the zero value
// otherwise. Every place that adds list elements (the YAML decode through
// the element's UnmarshalYAML, environment appends) starts from it, so a
// key that is left out keeps the element's default wherever the element
// came from.
func newElement(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	switch p := v.Addr().Interface().(type) {
	case *Route:
		*p = DefaultRoute()
	}
	return v
}

// UnmarshalYAML decodes a route on top of DefaultRoute, so that keys the
// document leaves out (or sets to null) keep their per-route defaults and
// keys it gives, "assertion: false" or "presets: []" included, win.
func (r *Route) UnmarshalYAML(n *yaml.Node) error {
	// plain has Route's fields but not this method, so Decode does not
	// call it again.
	type plain Route
	p := plain(DefaultRoute())
	if err := n.Decode(&p); err != nil {
		return err
	}
	*r = Route(p)
	return nil
}
