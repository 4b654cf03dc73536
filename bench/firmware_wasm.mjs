// Runs bench/firmware_core.py on MicroPython's webassembly port (32-bit), for bench/firmware.py:
//   node bench/firmware_wasm.mjs <micropython.mjs> <romfs image> <core dir> <heapsize> <params>
// The image is registered as the port's romfs (mounted at /rom, in wasm memory outside the GC
// heap, as a board's romfs partition is flash); the core's .mpy files (firmware_core,
// after_idle, the stand-ins) are copied into the port's in-memory filesystem at /bench;
// <params> (the core's JSON parameter list) is written there as params.json. The core prints
// "RESULT {json}"; then "GC_TOTAL <bytes>": what gc.mem_alloc() + gc.mem_free() says at the
// end (this port grows its heap on demand instead of failing, so that is mostly the room it
// could still take, not a heap size).
import fs from "fs";
import path from "path";

const [mjs, image, coreDir, heapsize, params] = process.argv.slice(2);
const { loadMicroPython } = await import(mjs);
const mp = await loadMicroPython({
  heapsize: parseInt(heapsize, 10),
  romfs: new Uint8Array(fs.readFileSync(image)),
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
});
mp.FS.mkdir("/bench");
for (const name of fs.readdirSync(coreDir)) {
  mp.FS.writeFile("/bench/" + name, new Uint8Array(fs.readFileSync(path.join(coreDir, name))));
}
mp.FS.writeFile("/bench/params.json", params);
try {
  mp.runPython(`import sys\nsys.argv[:] = ["firmware_core", "/bench/params.json"]\nsys.path[:] = ["/bench"]\nimport firmware_core`);
  // One call per stretch of the run: the port collects when control is back here.
  const core = mp.pyimport("firmware_core");
  while (core.advance()) {
    // next stretch
  }
  mp.runPython(`import gc\nprint("GC_TOTAL", gc.mem_alloc() + gc.mem_free())`);
} catch (error) {
  console.error(error.name === "PythonError" ? error.message : String(error));
  process.exit(1);
}
