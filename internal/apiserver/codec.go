package apiserver

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// strictJSON is Connect's JSON codec, except that a field the API does not
// have is an error instead of being ignored: a request with a misspelt field
// fails and names it ("unknown field \\"replica\\""), rather than doing
// something the caller did not ask for.
type strictJSON struct{}

func (strictJSON) Name() string { return "json" }

func (strictJSON) Marshal(m any) ([]byte, error) {
	msg, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("marshal %T: not a protobuf message", m)
	}
	return protojson.Marshal(msg)
}

func (strictJSON) Unmarshal(data []byte, m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("unmarshal into %T: not a protobuf message", m)
	}
	if len(data) == 0 {
		return fmt.Errorf("empty JSON body: send an object, {} at least")
	}
	return protojson.UnmarshalOptions{DiscardUnknown: false}.Unmarshal(data, msg)
}
