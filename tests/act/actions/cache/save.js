require("./cache.js").save();
