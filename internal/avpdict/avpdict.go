// Package avpdict tells the agent what go-diameter's default dictionary
// knows of an AVP: whether it is defined, Grouped or of a fixed size. The
// local applications check the requests they process against it, and the
// router sizes the stand-ins it puts in Failed-AVP by it.
package avpdict

import (
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/wire"
)

// Dictionary is a wire.Dictionary made from go-diameter's default
// dictionary. It is immutable and safe for concurrent use.
type Dictionary struct {
	kinds map[uint64]wire.AVPKind // vendor<<32 | code
}

var _ wire.Dictionary = (*Dictionary)(nil)

// Default knows every AVP of every application of the dictionary.
var Default = New()

// New returns the AVPs the dictionary defines for the base
// protocol (application 0) and for the given applications; with none
// given, for every application it holds. An AVP defined twice with
// payloads of different sizes is known but not held to a size.
func New(appIDs ...uint32) *Dictionary {
	d := &Dictionary{kinds: map[uint64]wire.AVPKind{}}
	for _, app := range dict.Default.Apps() {
		if app.ID != 0 && len(appIDs) > 0 && !contains(appIDs, app.ID) {
			continue
		}
		for _, a := range app.AVP {
			k := uint64(a.VendorID)<<32 | uint64(a.Code)
			kind := kindOf(a.Data.Type)
			if old, ok := d.kinds[k]; ok && old != kind {
				kind = wire.KindOctets
			}
			d.kinds[k] = kind
		}
	}
	return d
}

func contains(ids []uint32, id uint32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// Kind implements wire.Dictionary.
func (d *Dictionary) Kind(code, vendor uint32) wire.AVPKind {
	return d.kinds[uint64(vendor)<<32|uint64(code)]
}

// kindOf maps a go-diameter data type to the size rule go-diameter's
// decoder applies to it.
func kindOf(t datatype.TypeID) wire.AVPKind {
	switch t {
	case datatype.GroupedType:
		return wire.KindGrouped
	case datatype.Unsigned32Type, datatype.Integer32Type, datatype.Float32Type,
		datatype.EnumeratedType, datatype.TimeType, datatype.IPv4Type:
		return wire.KindFixed4
	case datatype.Unsigned64Type, datatype.Integer64Type, datatype.Float64Type:
		return wire.KindFixed8
	case datatype.IPv6Type:
		return wire.KindFixed16
	case datatype.AddressType:
		return wire.KindAddress
	}
	return wire.KindOctets
}
