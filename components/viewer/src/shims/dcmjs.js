// dcmjs as Cornerstone reads it (build.mjs sends every `import ... from "dcmjs"` here):
// its metadata and logging modules use `data` (the DICOM dictionary), `utilities`,
// `async`, `constants` and `log`, through named imports or dcmjs's default export. That
// default export is one object holding every part of dcmjs (adapters, SR, derivations,
// normalizers, anonymizer, DICOMweb), which kept them all in the bundle although nothing
// reads them. This module is dcmjs itself, narrowed to the parts Cornerstone reads.
import { async, constants, data, log, utilities } from "dcmjs";

export { async, constants, data, log, utilities };
export default { async, constants, data, log, utilities };
