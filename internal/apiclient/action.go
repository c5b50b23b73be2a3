package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/caravan-dev/caravan/internal/kinds"
)

// Action POSTs body (encoded as JSON) to an action path under an object,
// Path(info, namespace, name) + "/" + action (e.g. a Freight's approve, a
// Stage's promote-downstream), and decodes the JSON answer into out (when
// not nil). A refusal is a StatusError, as for every other request.
func (c *Client) Action(ctx context.Context, info *kinds.Info, namespace, name, action string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode %s request: %w", action, err)
	}
	return c.do(ctx, http.MethodPost, Path(info, namespace, name)+"/"+action, nil, "application/json", bytes.NewReader(b), out)
}
