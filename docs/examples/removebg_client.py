"""A remove.bg client library, unchanged, talking to a self-hosted ProductStudio server.

    pip install removebg                       # brilam/remove-bg, a client of remove.bg's API
    productstudio serve &                      # http://127.0.0.1:7000
    python docs/examples/removebg_client.py http://127.0.0.1:7000 shoe.jpg
    # → shoe.jpg_no_bg.png, a transparent cut-out

The only change from remove.bg is the base URL. The key is ignored on loopback; on a public
server use one from `productstudio keys add NAME`.
"""

import sys

from removebg import RemoveBg, removebg

base_url, photo = sys.argv[1], sys.argv[2]
removebg.API_ENDPOINT = f"{base_url}/v1.0/removebg"  # the one line that switches providers
RemoveBg("my-api-key", "removebg-errors.log").remove_background_from_img_file(photo, size="full")
print(f"{photo}_no_bg.png")
