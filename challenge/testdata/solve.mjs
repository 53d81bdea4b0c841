// Solves a flashsale challenge (JSON in argv[2]) with ALTCHA's own library,
// and prints the Flashsale-Challenge header: base64 of the payload JSON,
// as ALTCHA's widget sends it.
import { solveChallenge } from 'altcha-lib/v1';
const c = JSON.parse(process.argv[2]);
const { promise } = solveChallenge(c.challenge, c.salt, c.algorithm, c.maxnumber);
const solution = await promise;
if (!solution) { console.error('no solution'); process.exit(1); }
const payload = { algorithm: c.algorithm, challenge: c.challenge, number: solution.number, salt: c.salt, signature: c.signature };
process.stdout.write(Buffer.from(JSON.stringify(payload)).toString('base64'));
