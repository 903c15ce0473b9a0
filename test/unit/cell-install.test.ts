import { describe, expect, it } from 'vitest';
import { splitCellInstall } from '../../src/session/cell-install.js';

describe('splitCellInstall (the install lines a session cell starts with)', () => {
  it('takes %pip install lines before any code and keeps the line numbers of the rest', () => {
    expect(
      splitCellInstall('python', '%pip install tabulate pymysql==1.1.1\n%pip install six\nimport tabulate'),
    ).toEqual({
      requirements: ['tabulate', 'pymysql==1.1.1', 'six'],
      code: '\n\nimport tabulate',
    });
  });

  it('skips blank and comment lines before them, and a cell that only installs leaves blank code', () => {
    expect(splitCellInstall('python', '# deps\n\n  %pip install tabulate  \n')).toEqual({
      requirements: ['tabulate'],
      code: '# deps\n\n\n',
    });
    expect(splitCellInstall('nodejs', '// deps\n%npm install lodash@4.17.21')).toEqual({
      requirements: ['lodash@4.17.21'],
      code: '// deps\n',
    });
  });

  it('is undefined when the cell does not start with one: later lines and other magics are code', () => {
    expect(splitCellInstall('python', 'x = 1\n%pip install tabulate')).toBeUndefined();
    expect(splitCellInstall('python', '%pip list')).toBeUndefined();
    expect(splitCellInstall('python', '%pipinstall x')).toBeUndefined();
    expect(splitCellInstall('nodejs', '%pip install tabulate')).toBeUndefined();
  });

  it('reports a bare magic as one that names nothing', () => {
    expect(splitCellInstall('python', '%pip install\nprint(1)')).toEqual({
      requirements: [],
      code: '\nprint(1)',
    });
  });
});
