package apps

import (
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/wire"
)

// Dictionary is what a local application knows of AVPs, for
// wire.CheckAVPs: the AVPs of go-diameter's default dictionary that it
// decodes its requests with. It is immutable and safe for concurrent use.
type Dictionary struct {
	kinds map[uint64]wire.AVPKind // vendor<<32 | code
}

var _ wire.Dictionary = (*Dictionary)(nil)

// NewDictionary returns the AVPs the dictionary defines for the base
// protocol (application 0) and for the given applications; with none
// given, for every application it holds. An AVP defined twice with
// payloads of different sizes is known but not held to a size.
func NewDictionary(appIDs ...uint32) *Dictionary {
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

// CheckRequest checks req's AVPs against d as wire.CheckAVPs does and,
// when it finds a problem, returns the answer id gives (RFC 6733 §7: the
// Result-Code, an Error-Message and the Failed-AVP, with the AVPs the
// command's answer requires copied from req); nil when req passes.
func CheckRequest(req wire.Msg, d *Dictionary, id Identity) wire.Msg {
	p := wire.CheckAVPs(req.Body(), d)
	if p.ResultCode == 0 {
		return nil
	}
	return wire.ErrorAnswer(req, wire.ErrorSpec{OriginHost: id.OriginHost, OriginRealm: id.OriginRealm,
		ResultCode: p.ResultCode, Message: p.Message, FailedAVP: p.FailedAVP})
}
