// vtk.js's mesh file readers (PLY, STL, VTP/XML, OBJ), imported by Cornerstone's `Mesh`
// for surface meshes; the XML reader alone brought xmlbuilder2, its DOM and a YAML parser
// (about 330 kB). The viewer shows images only and never creates a mesh; should anything
// try, it fails here with this message instead of reading the file wrongly.
function unsupported() {
  throw new Error(
    "mcalc viewer: mesh files (PLY, STL, VTP, OBJ) are not supported in this build " +
      "(components/viewer/build.mjs leaves vtk.js's mesh readers out)",
  );
}
const reader = { newInstance: unsupported, extend: unsupported };
export const newInstance = unsupported;
export const extend = unsupported;
export default reader;
