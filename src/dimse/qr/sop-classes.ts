/** The Query/Retrieve SOP classes we serve (PS3.4 C.6): Patient Root and Study Root, FIND, MOVE and GET. */

export const QrSopClass = {
  PatientRootFind: '1.2.840.10008.5.1.4.1.2.1.1',
  PatientRootMove: '1.2.840.10008.5.1.4.1.2.1.2',
  PatientRootGet: '1.2.840.10008.5.1.4.1.2.1.3',
  StudyRootFind: '1.2.840.10008.5.1.4.1.2.2.1',
  StudyRootMove: '1.2.840.10008.5.1.4.1.2.2.2',
  StudyRootGet: '1.2.840.10008.5.1.4.1.2.2.3',
} as const;

export type InformationModel = 'PATIENT' | 'STUDY';

/** The information model (its root) of a Q/R SOP class; undefined for any other class. */
export function informationModel(sopClassUid: string): InformationModel | undefined {
  if (sopClassUid.startsWith('1.2.840.10008.5.1.4.1.2.1.') && QR_SOP_CLASSES.has(sopClassUid))
    return 'PATIENT';
  if (sopClassUid.startsWith('1.2.840.10008.5.1.4.1.2.2.') && QR_SOP_CLASSES.has(sopClassUid)) return 'STUDY';
  return undefined;
}

export const QR_SOP_CLASSES: ReadonlySet<string> = new Set(Object.values(QrSopClass));
