"""The cost side of a replay: what pages compress to and what each step costs.

The model says what happened; this package says what it cost:

* ``page_compressed_sizes(trace, codec, unit_pages)``: stored size of every
  dense page (real codecs on recorded bytes or representative class pages);
* ``CostModel.load(path)``: codec timings fitted by ``replay calibrate`` plus
  documented fault, memcg, reclaim and device parameters, flattened for the
  compiled engine by ``as_array``;
* ``get_codec(key)``: the codecs themselves.
"""

from replay.costs.codecs import Codec, codec_key, get_codec, lzo_available
from replay.costs.model import CostModel
from replay.costs.sizes import PageSizes, page_compressed_sizes

__all__ = ["Codec", "CostModel", "PageSizes", "codec_key", "get_codec", "lzo_available",
           "page_compressed_sizes"]
