// The challenge solver, off the page's thread: given an ALTCHA challenge,
// posts {progress} as it searches, then {number} (null if none fits).
'use strict';
importScripts('/assets/logic.js');

self.onmessage = async (e) => {
  // crypto.subtle exists only in a secure context (HTTPS, localhost).
  const sha256 = self.crypto && crypto.subtle
    ? (bytes) => crypto.subtle.digest('SHA-256', bytes)
    : async (bytes) => self.FlashLogic.sha256(bytes);
  let last = 0;
  const number = await self.FlashLogic.solveChallenge(e.data, sha256, (share) => {
    if (share - last >= 0.01 || share === 1) {
      last = share;
      self.postMessage({ progress: share });
    }
  });
  self.postMessage({ number });
};
