// actions/cache/restore: the restore step of the whole action, without its save.
require("../cache.js").restore();
