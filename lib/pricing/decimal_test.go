package pricing

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A printed rate that does not read back is an error for the request,
// never a panic of the server.
func TestRereadRefusesWhatDoesNotParse(t *testing.T) {
	d, err := reread("12.500000")
	require.NoError(t, err)
	assert.Equal(t, "12.5", d.String())
	_, err = reread("inf")
	assert.ErrorContains(t, err, `the computed rate printed as "inf", which does not read back as a number`)
}
