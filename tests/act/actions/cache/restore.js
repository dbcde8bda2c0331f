require("./cache.js").restore();
