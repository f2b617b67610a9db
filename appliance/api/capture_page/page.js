// The capture page served by the appliance at /capture/{token}: the module, run on this page.
import { startCapture } from "./capture.js";

const token = decodeURIComponent(location.pathname.split("/")[2] || "");
startCapture({ root: document.getElementById("capture"), token }).catch(() => {
  // the page shows why; nothing else to do here
});
